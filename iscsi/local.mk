# iscsi build fragment
