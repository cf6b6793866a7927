# vtl build fragment
