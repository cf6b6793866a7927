# tests/scsi build fragment
