# catalog build fragment
