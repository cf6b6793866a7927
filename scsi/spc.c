/*
 * spc.c - SPC-4 commands shared by every device type (work in progress:
 * the full implementation replaces these bodies shortly).
 */
#include "spc.h"

#include <string.h>
#include <time.h>

#include "be.h"
#include "sense.h"

static void spc_unsupported(struct scsi_cmd *cmd)
{
	sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
}

bool spc_reservation_conflict(struct scsi_dev *dev, const struct scsi_op *op,
			      const struct scsi_cmd *cmd)
{
	(void)op;
	if (dev->resv6_held && dev->resv6_holder != cmd->nexus &&
	    !(op->flags & OPF_CONFLICT_OK))
		return true;
	return false;
}

void spc_test_unit_ready(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	(void)dev;
	sense_clear(cmd);
}

#define STUB(name)                                                                                 \
	void name(struct scsi_dev *dev, struct scsi_cmd *cmd)                                      \
	{                                                                                          \
		(void)dev;                                                                         \
		spc_unsupported(cmd);                                                              \
	}

STUB(spc_inquiry)
STUB(spc_request_sense)
STUB(spc_mode_sense)
STUB(spc_mode_select)
STUB(spc_log_sense)
STUB(spc_log_select)
STUB(spc_report_supported_opcodes)
STUB(spc_report_supported_tmfs)
STUB(spc_report_timestamp)
STUB(spc_set_timestamp)
STUB(spc_reserve6)
STUB(spc_release6)
STUB(spc_persistent_reserve_in)
STUB(spc_persistent_reserve_out)
STUB(spc_prevent_allow)
STUB(spc_send_diagnostic)

const struct spc_mode_page spc_control_mode_page = {0x0a, 0, 12, NULL, NULL};
const struct spc_mode_page spc_control_ext_mode_page = {0x0a, 0x01, 32, NULL, NULL};
const struct spc_mode_page spc_informational_exceptions_mode_page = {0x1c, 0, 12, NULL, NULL};

uint64_t spc_timestamp_now(const struct scsi_dev *dev)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + dev->ts_offset_ms);
}
