/*
 * dispatch.c - the device object and the table-driven command path shared
 * by every device type (see spc.h for the contract).
 *
 * The order of checks follows SAM-5 5.14 and SPC-4:
 *   1. reservations (SPC-4 5.13): RESERVATION CONFLICT is the "higher
 *      priority status" of SAM-5 5.14 that a pending unit attention yields
 *      to, so a nexus that is shut out learns that first and keeps its unit
 *      attention for when it may use the device;
 *   2. a pending unit attention is reported next, except to INQUIRY,
 *      REPORT LUNS and REQUEST SENSE (SAM-5 5.14);
 *   3. an unknown operation code is INVALID COMMAND OPERATION CODE, an
 *      unknown service action INVALID FIELD IN CDB at its field;
 *   4. a set bit outside the CDB usage mask is INVALID FIELD IN CDB with the
 *      field pointer on that bit (SPC-4 4.4.2: reserved fields shall be
 *      checked);
 *   5. readiness (NOT READY with the type's ASC, e.g. MEDIUM NOT PRESENT);
 *   6. the handler.
 */
#include "config.h"

#include "spc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sense.h"

int spc_dev_init(struct scsi_dev *dev, const struct scsi_dev_type *type)
{
	memset(dev, 0, sizeof(*dev));
	int rc = pthread_mutex_init(&dev->lock, NULL);
	if (rc)
		return -rc;
	dev->type = type;
	return 0;
}

void spc_dev_destroy(struct scsi_dev *dev)
{
	free(dev->nexus);
	dev->nexus = NULL;
	dev->n_nexus = 0;
	pthread_mutex_destroy(&dev->lock);
}

const struct scsi_op *spc_find_op(const struct scsi_dev_type *type, uint8_t opcode, uint8_t sa)
{
	for (size_t i = 0; i < type->n_ops; i++) {
		const struct scsi_op *op = &type->ops[i];
		if (op->opcode != opcode)
			continue;
		if (!(op->flags & OPF_SA) || op->sa == sa)
			return op;
	}
	return NULL;
}

static bool opcode_has_sa(const struct scsi_dev_type *type, uint8_t opcode)
{
	for (size_t i = 0; i < type->n_ops; i++)
		if (type->ops[i].opcode == opcode && (type->ops[i].flags & OPF_SA))
			return true;
	return false;
}

struct spc_nexus *spc_nexus_get(struct scsi_dev *dev, uint64_t nexus)
{
	for (size_t i = 0; i < dev->n_nexus; i++)
		if (dev->nexus[i].id == nexus)
			return &dev->nexus[i];
	struct spc_nexus *n = realloc(dev->nexus, (dev->n_nexus + 1) * sizeof(*n));
	if (!n)
		return NULL;
	dev->nexus = n;
	n = &dev->nexus[dev->n_nexus++];
	memset(n, 0, sizeof(*n));
	n->id = nexus;
	/* SAM-5 6.3.1: a new I_T nexus sees the power-on condition once. */
	n->ua[n->n_ua++] = ASC_POWER_ON_RESET_OR_BUS_DEVICE_RESET;
	return n;
}

void spc_nexus_gone(struct scsi_dev *dev, uint64_t nexus)
{
	for (size_t i = 0; i < dev->n_nexus; i++) {
		if (dev->nexus[i].id != nexus)
			continue;
		dev->nexus[i] = dev->nexus[--dev->n_nexus];
		break;
	}
	/* SPC-2 5.5.1: a RESERVE(6) reservation ends with its nexus. */
	if (dev->resv6_held && dev->resv6_holder == nexus)
		dev->resv6_held = false;
	if (dev->prevent_removal && dev->prevent_nexus == nexus)
		dev->prevent_removal = false;
	if (dev->type->nexus_gone)
		dev->type->nexus_gone(dev, nexus);
}

static void ua_push(struct spc_nexus *n, uint16_t asc_ascq)
{
	for (uint8_t i = 0; i < n->n_ua; i++)
		if (n->ua[i] == asc_ascq)
			return;
	if (n->n_ua == SPC_UA_QUEUE) {
		/* SAM-5 5.14: when the queue overflows, keep the newest. */
		memmove(n->ua, n->ua + 1, (SPC_UA_QUEUE - 1) * sizeof(n->ua[0]));
		n->n_ua--;
	}
	n->ua[n->n_ua++] = asc_ascq;
}

void spc_ua_raise(struct scsi_dev *dev, uint64_t nexus, uint16_t asc_ascq)
{
	struct spc_nexus *n = spc_nexus_get(dev, nexus);
	if (n)
		ua_push(n, asc_ascq);
}

void spc_ua_raise_all(struct scsi_dev *dev, uint16_t asc_ascq)
{
	for (size_t i = 0; i < dev->n_nexus; i++)
		ua_push(&dev->nexus[i], asc_ascq);
}

void spc_ua_raise_others(struct scsi_dev *dev, uint64_t nexus, uint16_t asc_ascq)
{
	for (size_t i = 0; i < dev->n_nexus; i++)
		if (dev->nexus[i].id != nexus)
			ua_push(&dev->nexus[i], asc_ascq);
}

bool spc_ua_pop(struct scsi_dev *dev, uint64_t nexus, uint16_t *asc_ascq)
{
	struct spc_nexus *n = spc_nexus_get(dev, nexus);
	if (!n || n->n_ua == 0)
		return false;
	*asc_ascq = n->ua[0];
	memmove(n->ua, n->ua + 1, (size_t)(n->n_ua - 1) * sizeof(n->ua[0]));
	n->n_ua--;
	return true;
}

void spc_lun_reset(struct scsi_dev *dev, uint64_t from_nexus)
{
	(void)from_nexus;
	/* SAM-5 6.3.3: a logical unit reset clears RESERVE(6) reservations
	 * (persistent ones survive) and raises the reset unit attention for
	 * every nexus. */
	dev->resv6_held = false;
	dev->prevent_removal = false;
	if (dev->type->lun_reset)
		dev->type->lun_reset(dev);
	spc_ua_raise_all(dev, ASC_BUS_DEVICE_RESET_FUNCTION_OCCURRED);
}

void spc_respond(struct scsi_cmd *cmd, const void *buf, uint32_t len, uint32_t alloc_len)
{
	uint32_t n = len;
	if (n > alloc_len)
		n = alloc_len;
	if (n > cmd->in_cap)
		n = cmd->in_cap;
	if (n)
		memcpy(cmd->in, buf, n);
	cmd->in_len = n;
}

void spc_pad_ascii(uint8_t *dst, const char *src, size_t width)
{
	size_t n = strlen(src);
	if (n > width)
		n = width;
	memcpy(dst, src, n);
	memset(dst + n, ' ', width - n);
}

static int highest_bit(uint8_t v)
{
	for (int b = 7; b >= 0; b--)
		if (v & (1u << b))
			return b;
	return -1;
}

uint8_t spc_cdb_len(uint8_t opcode)
{
	switch (opcode >> 5) {
	case 0:
		return 6;
	case 1:
	case 2:
		return 10;
	case 4:
		return 16;
	case 5:
		return 12;
	default:
		return 0;
	}
}

static bool check_reserved_bits(const struct scsi_op *op, struct scsi_cmd *cmd)
{
	for (uint16_t i = 1; i < op->cdb_len; i++) {
		uint8_t v = cmd->cdb[i];
		if (i == 1 && (op->flags & OPF_SA))
			v &= 0xe0;
		uint8_t bad = (uint8_t)(v & ~op->usage[i]);
		if (bad) {
			sense_invalid_cdb(cmd, i, highest_bit(bad));
			return false;
		}
	}
	return true;
}

static bool ua_exempt(uint8_t opcode)
{
	return opcode == INQUIRY || opcode == REPORT_LUNS || opcode == REQUEST_SENSE;
}

void spc_dispatch(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	const struct scsi_dev_type *type = dev->type;
	uint8_t opcode = cmd->cdb[0];

	pthread_mutex_lock(&dev->lock);
	if (type->wait)
		type->wait(dev, cmd);
	cmd->desc_sense = dev->d_sense;
	cmd->in_len = 0;
	sense_clear(cmd);

	struct spc_nexus *n = spc_nexus_get(dev, cmd->nexus);
	if (!n) {
		sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
		goto out;
	}
	if (cmd->initiator_port && !n->port_name[0])
		snprintf(n->port_name, sizeof(n->port_name), "%s", cmd->initiator_port);
	uint8_t group_len = spc_cdb_len(opcode);
	bool short_cdb = group_len && cmd->cdb_len < group_len;
	const struct scsi_op *op = short_cdb ? NULL : spc_find_op(type, opcode, cmd->cdb[1] & 0x1f);
	if (op && spc_reservation_conflict(dev, op, cmd)) {
		cmd->status = SAM_STAT_RESERVATION_CONFLICT;
		goto out;
	}
	if (!ua_exempt(opcode) && n->n_ua > 0) {
		uint16_t asc;
		spc_ua_pop(dev, cmd->nexus, &asc);
		sense_set(cmd, SK_UNIT_ATTENTION, asc);
		goto out;
	}
	if (!ua_exempt(opcode) && type->before && !type->before(dev, cmd))
		goto out;
	if (short_cdb) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
		goto out;
	}
	if (!op) {
		if (opcode_has_sa(type, opcode))
			sense_invalid_cdb(cmd, 1, 4);
		else
			sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_COMMAND_OPERATION_CODE);
		goto out;
	}
	if (!check_reserved_bits(op, cmd))
		goto out;
	if ((op->flags & OPF_MEDIUM) && type->not_ready) {
		uint16_t why = type->not_ready(dev);
		if (why) {
			sense_set(cmd, SK_NOT_READY, why);
			goto out;
		}
	}
	op->handler(dev, cmd);
out:
	if (n && type->after)
		type->after(dev, cmd);
	if (n)
		spc_ie_report(dev, cmd);
	pthread_mutex_unlock(&dev->lock);
}
