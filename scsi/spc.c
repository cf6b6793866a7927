/*
 * spc.c - the SPC-4 command set shared by every device type.
 *
 * The device types (ssc.c, smc.c) list these handlers in their op tables
 * and describe their VPD, mode and log pages in tables; this file does the
 * framing around them: INQUIRY standard data and the VPD pages every device
 * has, MODE SENSE/SELECT headers, block descriptors, page selection and the
 * changeable-bit check, LOG SENSE page 0x00 and the parameter pointer,
 * REPORT SUPPORTED OPERATION CODES straight from the op table, timestamps,
 * and the two reservation models: RESERVE(6)/RELEASE(6) as SPC-2 defines
 * them and persistent reservations (SPC-4 5.13, 6.15, 6.16).
 *
 * Invariants:
 *   - every handler runs with dev->lock held (spc_dispatch takes it) and
 *     reports errors only through sense.h;
 *   - data-in is built in a local buffer at its full length and handed to
 *     spc_respond(), which applies the allocation length and the transfer
 *     length (SPC-4 4.2.5.6: truncation is never an error);
 *   - persistent reservation state changes bump the PRgeneration exactly
 *     when SPC-4 6.16.1 says so (REGISTER, REGISTER AND IGNORE EXISTING KEY,
 *     CLEAR, PREEMPT, PREEMPT AND ABORT), never for RESERVE or RELEASE.
 *
 * Choices the standard leaves open:
 *   - APTPL is not supported (PTPL_C = 0): REGISTER with APTPL = 1 is
 *     INVALID FIELD IN PARAMETER LIST, as SPC-4 6.16.3 requires then. The
 *     state lives in memory and ends with vtld, as after a power loss.
 *   - SPEC_I_PT and ALL_TG_PT are not supported (SIP_C = ATP_C = 0).
 *   - Compatible reservation handling (CRH = 1, SPC-4 5.13.3).
 *   - Saved mode and log parameters are not supported.
 */
#include "config.h"

#include "spc.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "be.h"
#include "sense.h"

/* SPC-4 6.6.2: standard INQUIRY data of 96 bytes (through the version
 * descriptors and their reserved tail). */
enum { INQ_STD_LEN = 96 };

/* Version descriptors (SPC-4 6.6.2 table 143). */
enum {
	VD_SAM5 = 0x00a0,
	VD_SPC4 = 0x0460,
	VD_ISCSI = 0x0960,
	VD_SSC4 = 0x0520,
	VD_SMC3 = 0x0480,
};

/* Persistent reservation types (SPC-4 6.15.2 table 175). */
enum {
	PR_WE = 0x1,
	PR_EA = 0x3,
	PR_WE_RO = 0x5,
	PR_EA_RO = 0x6,
	PR_WE_AR = 0x7,
	PR_EA_AR = 0x8,
};

/* PERSISTENT RESERVE IN / OUT service actions (SPC-4 6.15.1, 6.16.1). */
enum {
	PRI_READ_KEYS = 0x00,
	PRI_READ_RESERVATION = 0x01,
	PRI_REPORT_CAPABILITIES = 0x02,
	PRI_READ_FULL_STATUS = 0x03,
	PRO_REGISTER = 0x00,
	PRO_RESERVE = 0x01,
	PRO_RELEASE = 0x02,
	PRO_CLEAR = 0x03,
	PRO_PREEMPT = 0x04,
	PRO_PREEMPT_AND_ABORT = 0x05,
	PRO_REGISTER_AND_IGNORE = 0x06,
};

/* PERSISTENT RESERVE OUT basic parameter list (SPC-4 6.16.3). */
enum { PRO_PARAM_LEN = 24 };

/* -------------------------------------------------------------------------
 * Small helpers.
 */

/* A scratch buffer for responses that may outgrow the stack. */
static uint8_t *scratch(struct scsi_cmd *cmd, size_t len)
{
	uint8_t *b = calloc(1, len ? len : 1);
	if (!b)
		sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
	return b;
}

static void bad_param_len(struct scsi_cmd *cmd)
{
	sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
}

/* The data-out bytes actually present of a parameter list of `len`. */
static uint32_t param_avail(const struct scsi_cmd *cmd, uint32_t len)
{
	if (!cmd->out)
		return 0;
	return cmd->out_len < len ? cmd->out_len : len;
}

/* -------------------------------------------------------------------------
 * TEST UNIT READY (SPC-4 6.47). The dispatcher has already reported NOT
 * READY for ops flagged OPF_MEDIUM, so reaching here means ready.
 */
void spc_test_unit_ready(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	(void)dev;
	sense_clear(cmd);
}

/* -------------------------------------------------------------------------
 * INQUIRY (SPC-4 6.6) and the VPD pages built here (SPC-4 7.8).
 */

static uint32_t inquiry_std(const struct scsi_dev *dev, uint8_t *b)
{
	uint8_t ptype = dev->type->peripheral_type;
	size_t nvd = 0;

	memset(b, 0, INQ_STD_LEN);
	b[0] = ptype & 0x1f; /* peripheral qualifier 000b: connected */
	const struct spc_inquiry_layout *vl = dev->ident.inq;
	if (vl) {
		/* The device's own documented layout (scsi/personality.c). */
		uint8_t len = vl->length < 36 ? 36 : vl->length > 56 ? 56 : vl->length;
		if (ptype == SCSI_TYPE_TAPE || ptype == SCSI_TYPE_CHANGER)
			b[1] = 0x80;
		b[2] = vl->version;
		b[3] = vl->flags3;
		b[4] = (uint8_t)(len - 5);
		b[6] = vl->flags6;
		b[7] = vl->flags7;
		spc_pad_ascii(b + 8, dev->ident.vendor, 8);
		spc_pad_ascii(b + 16, dev->ident.product, 16);
		spc_pad_ascii(b + 32, dev->ident.revision, 4);
		memcpy(b + 36, dev->ident.inq_vs, (size_t)len - 36);
		return len;
	}
	/* RMB: a tape cartridge and a library's cartridges are removable. */
	if (ptype == SCSI_TYPE_TAPE || ptype == SCSI_TYPE_CHANGER)
		b[1] = 0x80;
	b[2] = 0x06;		/* VERSION: SPC-4 */
	b[3] = 0x10 | 0x02;	/* HISUP, RESPONSE DATA FORMAT 2 */
	b[4] = INQ_STD_LEN - 5; /* ADDITIONAL LENGTH */
	b[7] = 0x02;		/* CMDQUE */
	spc_pad_ascii(b + 8, dev->ident.vendor, 8);
	spc_pad_ascii(b + 16, dev->ident.product, 16);
	spc_pad_ascii(b + 32, dev->ident.revision, 4);
	/* Bytes 36..55 are vendor specific (SPC-4 6.6.2). */
	memcpy(b + 36, dev->ident.inq_vs, sizeof(dev->ident.inq_vs));

	/* Version descriptors at bytes 58..73 (SPC-4 6.6.2). */
	uint16_t vd[8];
	vd[nvd++] = VD_SAM5;
	if (ptype == SCSI_TYPE_TAPE)
		vd[nvd++] = VD_SSC4;
	else if (ptype == SCSI_TYPE_CHANGER)
		vd[nvd++] = VD_SMC3;
	vd[nvd++] = VD_SPC4;
	vd[nvd++] = VD_ISCSI;
	for (size_t i = 0; i < nvd; i++)
		put_be16(b + 58 + 2 * i, vd[i]);
	return INQ_STD_LEN;
}

/* VPD pages that this file supplies itself. */
static const uint8_t builtin_vpd[] = {0x00, 0x80, 0x83};

static bool vpd_present(const struct scsi_dev *dev, const struct spc_vpd_page *vp)
{
	return !vp->present || vp->present(dev);
}

static const struct spc_vpd_page *vpd_find(const struct scsi_dev *dev, uint8_t page)
{
	const struct scsi_dev_type *t = dev->type;

	for (size_t i = 0; i < t->n_vpd; i++)
		if (t->vpd[i].page == page && vpd_present(dev, &t->vpd[i]))
			return &t->vpd[i];
	return NULL;
}

/* SPC-4 7.8.12: Supported VPD Pages, ascending order, each once. */
static uint32_t vpd_supported(struct scsi_dev *dev, uint8_t *b, uint32_t cap)
{
	uint32_t n = 4;
	int last = -1;

	for (;;) {
		/* Next page code above `last`, from both lists. */
		int next = 256;
		for (size_t i = 0; i < sizeof(builtin_vpd); i++)
			if (builtin_vpd[i] > last && builtin_vpd[i] < next)
				next = builtin_vpd[i];
		for (size_t i = 0; i < dev->type->n_vpd; i++) {
			int p = dev->type->vpd[i].page;
			if (p > last && p < next && vpd_present(dev, &dev->type->vpd[i]))
				next = p;
		}
		if (next == 256)
			break;
		if (n < cap)
			b[n] = (uint8_t)next;
		n++;
		last = next;
	}
	if (cap >= 4) {
		b[0] = dev->type->peripheral_type & 0x1f;
		b[1] = 0x00;
		put_be16(b + 2, (uint16_t)(n - 4));
	}
	return n;
}

/* SPC-4 7.8.14: Unit Serial Number. */
static uint32_t vpd_serial(struct scsi_dev *dev, uint8_t *b, uint32_t cap)
{
	size_t len = strnlen(dev->ident.serial, sizeof(dev->ident.serial));
	if (cap < 4 + len)
		return (uint32_t)(4 + len);
	b[0] = dev->type->peripheral_type & 0x1f;
	b[1] = 0x80;
	put_be16(b + 2, (uint16_t)len);
	memcpy(b + 4, dev->ident.serial, len);
	return (uint32_t)(4 + len);
}

/* FNV-1a, to derive a stable NAA 6 identifier extension from the serial. */
static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Designation descriptor header (SPC-4 7.8.6.1 table 482). proto < 0: PIV
 * zero, the PROTOCOL IDENTIFIER field reserved. */
static uint8_t *desig(uint8_t *p, int proto, uint8_t code_set, uint8_t assoc, uint8_t type,
		      uint8_t len)
{
	p[0] = (uint8_t)((proto < 0 ? 0 : (proto & 0x0f) << 4) | (code_set & 0x0f));
	p[1] = (uint8_t)((proto < 0 ? 0 : 0x80) | (assoc & 3) << 4 | (type & 0x0f));
	p[2] = 0;
	p[3] = len;
	return p + 4;
}

/* A SCSI name string designator (SPC-4 7.8.6.11: UTF-8, null-terminated,
 * padded with nulls to a multiple of 4 bytes). */
static uint8_t *desig_name(uint8_t *p, int proto, uint8_t assoc, const char *name, size_t len)
{
	size_t padded = (len + 1 + 3) & ~(size_t)3;
	p = desig(p, proto, 3, assoc, 8, (uint8_t)padded);
	memset(p, 0, padded);
	memcpy(p, name, len);
	return p + padded;
}

/*
 * SPC-4 7.8.6: Device Identification. For the logical unit:
 *   - NAA (type 3, binary): NAA 5 (IEEE Registered, 8 bytes) as
 *     configured, or NAA 6 (IEEE Registered Extended, 16 bytes) with the
 *     extension derived from the serial;
 *   - T10 vendor ID (type 1, ASCII): vendor, product, serial, the form
 *     real tape drives and libraries report.
 * For the target port the command came through:
 *   - relative target port (type 4), and target port group (type 5, group
 *     0: there is one, TPGS is zero), as a SAS LTO-6 drive reports them
 *     (sg_vpd of a Tandberg LTO-6 in LTFS issue #441, which also gives
 *     its port and device NAAs);
 *   - when the frontend names the port (cmd->target_port, iSCSI), the
 *     port's SCSI name string ("iqn...,t,0x0001") and the target device's
 *     (the iSCSI target name: association 10b), as LIO reports them, with
 *     PIV set and the transport's protocol identifier. Without a name
 *     (TCMU, where the port is LIO's) PIV is zero, the protocol reserved.
 */
static uint32_t vpd_devid(struct scsi_dev *dev, const struct scsi_cmd *cmd, uint8_t *b,
			  uint32_t cap)
{
	uint8_t tmp[1024];
	uint8_t *p = tmp + 4;
	const struct spc_ident *id = &dev->ident;

	memset(tmp, 0, sizeof(tmp));
	if (id->naa) {
		if (id->naa >> 60 == 6) {
			p = desig(p, -1, 1, 0, 3, 16);
			put_be64(p, id->naa);
			put_be64(p + 8, fnv1a64(id->serial));
			p += 16;
		} else {
			p = desig(p, -1, 1, 0, 3, 8);
			put_be64(p, id->naa);
			p += 8;
		}
	}
	size_t slen = strnlen(id->serial, sizeof(id->serial));
	p = desig(p, -1, 2, 0, 1, (uint8_t)(24 + slen));
	spc_pad_ascii(p, id->vendor, 8);
	spc_pad_ascii(p + 8, id->product, 16);
	memcpy(p + 24, id->serial, slen);
	p += 24 + slen;

	/* A port name longer than a designator holds (255 bytes) is not
	 * sent: iSCSI names are at most 223 bytes (RFC 7143 4.2.7.1). */
	const char *port = cmd->target_port;
	size_t plen = port ? strlen(port) : 0;
	const char *sep = port ? strstr(port, ",t,") : NULL;
	if (!port || plen > 251 || !sep)
		port = NULL;
	int proto = port ? cmd->target_proto : -1;

	p = desig(p, proto, 1, 1, 4, 4);
	put_be16(p + 2, id->rel_port ? id->rel_port : 1); /* 0 is reserved */
	p += 4;
	p = desig(p, proto, 1, 1, 5, 4);
	put_be16(p + 2, 0);
	p += 4;
	if (port) {
		p = desig_name(p, proto, 1, port, plen);
		p = desig_name(p, proto, 2, port, (size_t)(sep - port));
	}

	uint32_t n = (uint32_t)(p - tmp);
	tmp[0] = dev->type->peripheral_type & 0x1f;
	tmp[1] = 0x83;
	put_be16(tmp + 2, (uint16_t)(n - 4));
	memcpy(b, tmp, n < cap ? n : cap);
	return n;
}

void spc_inquiry(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	uint32_t alloc = get_be16(cdb + 3);
	bool evpd = cdb[1] & 0x01;
	uint8_t page = cdb[2];

	/* CMDDT is obsolete (SPC-4 6.6.1): reject it if the table let it in. */
	if (cdb[1] & 0x02) {
		sense_invalid_cdb(cmd, 1, 1);
		return;
	}
	if (!evpd) {
		uint8_t b[INQ_STD_LEN];
		if (page) {
			/* SPC-4 6.6.1: PAGE CODE must be zero without EVPD. */
			sense_invalid_cdb(cmd, 2, -1);
			return;
		}
		spc_respond(cmd, b, inquiry_std(dev, b), alloc);
		return;
	}

	uint32_t (*fill)(struct scsi_dev *, uint8_t *, uint32_t) = NULL;
	switch (page) {
	case 0x00:
		fill = vpd_supported;
		break;
	case 0x80:
		fill = vpd_serial;
		break;
	case 0x83: {
		uint8_t page83[1024];
		spc_respond(cmd, page83, vpd_devid(dev, cmd, page83, sizeof(page83)), alloc);
		return;
	}
	default: {
		const struct spc_vpd_page *vp = vpd_find(dev, page);
		if (!vp) {
			sense_invalid_cdb(cmd, 2, -1);
			return;
		}
		fill = vp->fill;
		break;
	}
	}

	uint8_t small[512];
	uint32_t len = fill(dev, small, sizeof(small));
	if (len <= sizeof(small)) {
		spc_respond(cmd, small, len, alloc);
		return;
	}
	uint8_t *big = scratch(cmd, len);
	if (!big)
		return;
	len = fill(dev, big, len);
	spc_respond(cmd, big, len, alloc);
	free(big);
}

enum {
	IEC_MRIE_NONE = 0x0,
	IEC_MRIE_UNIT_ATTENTION = 0x2,
	IEC_MRIE_CONDITIONAL_RECOVERED = 0x3,
	IEC_MRIE_RECOVERED = 0x4,
	IEC_MRIE_NO_SENSE = 0x5,
	IEC_MRIE_ON_REQUEST = 0x6,
};
static uint8_t ie_method(const struct scsi_dev *dev);

/* -------------------------------------------------------------------------
 * REQUEST SENSE (SPC-4 6.39).
 *
 * Parameter data is the sense data of the condition the device would
 * report now, in the format the DESC bit asks for: the oldest pending unit
 * attention (which this command clears, SAM-5 5.14), else a NOT READY
 * condition of the device type (SPC-4 5.11: the reason a medium access
 * would fail), else NO SENSE. The command itself completes GOOD.
 */
void spc_request_sense(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct scsi_cmd s;
	uint16_t asc;

	memset(&s, 0, sizeof(s));
	s.desc_sense = cmd->cdb[1] & 0x01;
	if (spc_ua_pop(dev, cmd->nexus, &asc))
		sense_set(&s, SK_UNIT_ATTENTION, asc);
	else if (dev->type->not_ready && (asc = dev->type->not_ready(dev)) != 0)
		sense_set(&s, SK_NOT_READY, asc);
	else if (dev->ie_pending && ie_method(dev) == IEC_MRIE_ON_REQUEST) {
		/* SPC-4 7.5.7, MRIE 6h: the condition is reported only here,
		 * as NO SENSE with its ASC/ASCQ. */
		sense_set(&s, SK_NO_SENSE, dev->ie_pending);
		dev->ie_pending = 0;
	} else
		sense_set(&s, SK_NO_SENSE, ASC_NO_ADDITIONAL_SENSE);
	sense_clear(cmd);
	spc_respond(cmd, s.sense, s.sense_len, cmd->cdb[4]);
}

/* -------------------------------------------------------------------------
 * Mode parameters (SPC-4 6.11, 6.12, 6.9, 6.10, 7.5).
 */

static uint32_t mode_key(const struct spc_mode_page *mp)
{
	/* SPC-4 6.11.1: ascending page code order, page 0x00 (vendor
	 * specific) last. */
	uint32_t page = mp->page ? mp->page : 0x40u;
	return page << 8 | mp->subpage;
}

/* The table entry that sorts right after `after` (0 starts), or NULL. */
static const struct spc_mode_page *mode_next(const struct scsi_dev_type *t, uint32_t *after,
					     bool first)
{
	const struct spc_mode_page *best = NULL;
	for (size_t i = 0; i < t->n_mode; i++) {
		uint32_t k = mode_key(&t->mode[i]);
		if (!first && k <= *after)
			continue;
		if (!best || k < mode_key(best))
			best = &t->mode[i];
	}
	if (best)
		*after = mode_key(best);
	return best;
}

/* Fill one page for pc with its header forced right: PS = 0 (nothing is
 * saveable), SPF and the page length from the table. */
static void mode_page_fill(struct scsi_dev *dev, const struct spc_mode_page *mp, int pc, uint8_t *p)
{
	memset(p, 0, mp->len);
	mp->sense(dev, pc, p);
	if (mp->subpage) {
		p[0] = (uint8_t)(0x40 | (mp->page & 0x3f));
		p[1] = mp->subpage;
		put_be16(p + 2, (uint16_t)(mp->len - 4));
	} else {
		p[0] = mp->page & 0x3f;
		p[1] = (uint8_t)(mp->len - 2);
	}
}

static bool mode_selected(const struct spc_mode_page *mp, uint8_t page, uint8_t subpage)
{
	if (page == 0x3f)
		return subpage == 0xff || mp->subpage == 0;
	if (mp->page != page)
		return false;
	return subpage == 0xff || mp->subpage == subpage;
}

/*
 * Build the mode parameter list of MODE SENSE(6) (long = false) or (10):
 * header, optional short block descriptor, pages. Returns the length, or 0
 * when no page matches (sense set).
 */
static uint32_t mode_build(struct scsi_dev *dev, struct scsi_cmd *cmd, bool ten, bool dbd, int pc,
			   uint8_t page, uint8_t subpage, uint8_t **out)
{
	const struct scsi_dev_type *t = dev->type;
	uint32_t hdr = ten ? 8 : 4;
	size_t cap = hdr + 8;
	for (size_t i = 0; i < t->n_mode; i++)
		cap += t->mode[i].len;

	uint8_t *b = scratch(cmd, cap);
	if (!b)
		return 0;

	uint32_t n = hdr;
	uint8_t bd[8];
	if (!dbd && t->mode_block_desc && t->mode_block_desc(dev, bd)) {
		memcpy(b + n, bd, 8);
		n += 8;
	}
	uint32_t bd_len = n - hdr;

	bool any = false, page_known = false;
	uint32_t key = 0;
	for (const struct spc_mode_page *mp = mode_next(t, &key, true); mp;
	     mp = mode_next(t, &key, false)) {
		if (mp->page == page)
			page_known = true;
		if (!mode_selected(mp, page, subpage))
			continue;
		mode_page_fill(dev, mp, pc, b + n);
		n += mp->len;
		any = true;
	}
	/* SPC-4 7.5.1 table 452: page 00h is the vendor-specific page that
	 * needs no page format. Without a page 00h of its own, a device
	 * answers it with the header and block descriptor alone: Linux st
	 * reads the block length and write protection that way on open. */
	if (!any && page == 0 && subpage == 0)
		any = true;
	if (!any) {
		/* SPC-4 6.11.1: an unsupported page or subpage is INVALID
		 * FIELD IN CDB on the field that names it. */
		if (page == 0x3f || page_known)
			sense_invalid_cdb(cmd, 3, -1);
		else
			sense_invalid_cdb(cmd, 2, 5);
		free(b);
		return 0;
	}

	uint8_t devspec = t->mode_dev_specific ? t->mode_dev_specific(dev) : 0;
	uint8_t medium = t->mode_medium_type ? t->mode_medium_type(dev) : 0;
	if (ten) {
		put_be16(b, (uint16_t)(n - 2)); /* MODE DATA LENGTH */
		b[2] = medium;
		b[3] = devspec;
		b[4] = 0; /* LONGLBA = 0: only short descriptors */
		put_be16(b + 6, (uint16_t)bd_len);
	} else {
		/* The 6-byte header cannot describe more than 255 bytes;
		 * the list is cut there (SPC-4 6.11.1). */
		if (n > 256)
			n = 256;
		b[0] = (uint8_t)(n - 1);
		b[1] = medium;
		b[2] = devspec;
		b[3] = (uint8_t)bd_len;
	}
	*out = b;
	return n;
}

void spc_mode_sense(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	bool ten = cdb[0] == MODE_SENSE_10;
	bool dbd = cdb[1] & 0x08;
	int pc = cdb[2] >> 6;
	uint8_t page = cdb[2] & 0x3f;
	uint8_t subpage = cdb[3];
	uint32_t alloc = ten ? get_be16(cdb + 7) : cdb[4];

	if (pc == MODE_PC_SAVED) {
		/* SPC-4 6.11.1 table 98: saved values not implemented. */
		sense_set_field(cmd, ASC_SAVING_PARAMETERS_NOT_SUPPORTED, true, 2, 7);
		return;
	}
	uint8_t *b = NULL;
	uint32_t n = mode_build(dev, cmd, ten, dbd, pc, page, subpage, &b);
	if (!n)
		return;
	spc_respond(cmd, b, n, alloc);
	free(b);
}

/* The current values of every mode parameter, to tell whether a MODE
 * SELECT changed anything (for the MODE PARAMETERS CHANGED attention). */
static uint8_t *mode_snapshot(struct scsi_dev *dev, struct scsi_cmd *cmd, uint32_t *len)
{
	uint8_t *b = NULL;
	struct scsi_cmd quiet = *cmd;
	*len = mode_build(dev, &quiet, true, false, MODE_PC_CURRENT, 0x3f, 0xff, &b);
	return b;
}

static const struct spc_mode_page *mode_find(const struct scsi_dev_type *t, uint8_t page,
					     uint8_t subpage)
{
	for (size_t i = 0; i < t->n_mode; i++)
		if (t->mode[i].page == page && t->mode[i].subpage == subpage)
			return &t->mode[i];
	return NULL;
}

static int highest_bit(uint8_t v)
{
	for (int b = 7; b >= 0; b--)
		if (v & (1u << b))
			return b;
	return -1;
}

/* Frame and check one page of a MODE SELECT list at `off`; on success
 * sets *mpp and *plen. Returns -1 with sense set. */
static int mode_select_check(struct scsi_dev *dev, struct scsi_cmd *cmd, const uint8_t *list,
			     uint32_t n, uint32_t off, const struct spc_mode_page **mpp,
			     uint32_t *plen)
{
	const uint8_t *p = list + off;
	bool spf = p[0] & 0x40;
	uint8_t page = p[0] & 0x3f;
	uint32_t hdr = spf ? 4 : 2;

	if (n - off < hdr) {
		bad_param_len(cmd);
		return -1;
	}
	uint32_t len = spf ? get_be16(p + 2) + 4u : p[1] + 2u;
	uint8_t subpage = spf ? p[1] : 0;
	const struct spc_mode_page *mp = mode_find(dev->type, page, subpage);
	if (!mp || (spf && subpage == 0)) {
		sense_invalid_param(cmd, (uint16_t)(off + (spf ? 1 : 0)), spf ? -1 : 5);
		return -1;
	}
	if (len != mp->len) {
		/* SPC-4 6.9.1: the PAGE LENGTH must be the one MODE SENSE
		 * returns. */
		sense_invalid_param(cmd, (uint16_t)(off + (spf ? 2 : 1)), -1);
		return -1;
	}
	if (n - off < len) {
		bad_param_len(cmd);
		return -1;
	}

	/* SPC-4 6.9.1: a bit that differs from the current value and is
	 * not changeable is INVALID FIELD IN PARAMETER LIST. */
	uint8_t cur[256], chg[256];
	mode_page_fill(dev, mp, MODE_PC_CURRENT, cur);
	mode_page_fill(dev, mp, MODE_PC_CHANGEABLE, chg);
	for (uint32_t i = hdr; i < len; i++) {
		uint8_t bad = (uint8_t)((p[i] ^ cur[i]) & ~chg[i]);
		if (bad) {
			sense_invalid_param(cmd, (uint16_t)(off + i), highest_bit(bad));
			return -1;
		}
	}
	*mpp = mp;
	*plen = len;
	return 0;
}

void spc_mode_select(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	const struct scsi_dev_type *t = dev->type;
	const uint8_t *cdb = cmd->cdb;
	bool ten = cdb[0] == MODE_SELECT_10;
	uint32_t plen = ten ? get_be16(cdb + 7) : cdb[4];
	uint32_t hdr = ten ? 8 : 4;

	/*
	 * SPC-4 6.9.1: SP = 1 asks to save the pages, which this device
	 * cannot. PF = 0 means a vendor-specific page format; ours is the SPC
	 * format, so both values are accepted.
	 */
	if (cdb[1] & 0x01) {
		sense_invalid_cdb(cmd, 1, 0);
		return;
	}
	if (plen == 0)
		return; /* SPC-4 6.9.1: not an error, nothing changes */
	uint32_t n = param_avail(cmd, plen);
	if (n < hdr) {
		bad_param_len(cmd);
		return;
	}
	const uint8_t *list = cmd->out;

	/* Mode parameter header (SPC-4 7.5.5). MODE DATA LENGTH is reserved
	 * in MODE SELECT and ignored here, as most devices do. */
	uint8_t devspec = ten ? list[3] : list[2];
	uint32_t bd_len = ten ? get_be16(list + 6) : list[3];
	uint16_t bd_field = ten ? 6 : 3;
	if (ten && (list[4] & 0x01)) {
		sense_invalid_param(cmd, 4, 0); /* LONGLBA: no long descriptors */
		return;
	}
	if (bd_len != 0 && bd_len != 8) {
		sense_invalid_param(cmd, bd_field, -1);
		return;
	}
	if (hdr + bd_len > n) {
		bad_param_len(cmd);
		return;
	}
	if (bd_len && !t->mode_select_header) {
		/* Nothing in the descriptor is settable: it must repeat the
		 * current one. */
		uint8_t cur[8];
		if (!t->mode_block_desc || !t->mode_block_desc(dev, cur)) {
			sense_invalid_param(cmd, bd_field, -1);
			return;
		}
		for (uint16_t i = 0; i < 8; i++) {
			uint8_t bad = (uint8_t)(list[hdr + i] ^ cur[i]);
			if (bad) {
				sense_invalid_param(cmd, (uint16_t)(hdr + i), highest_bit(bad));
				return;
			}
		}
	}

	/* First pass: frame and check every page before changing anything,
	 * so a bad list leaves the parameters as they were. */
	for (uint32_t off = hdr + bd_len; off < n;) {
		const struct spc_mode_page *mp;
		uint32_t len;
		if (mode_select_check(dev, cmd, list, n, off, &mp, &len))
			return;
		off += len;
	}

	uint32_t before_len = 0;
	uint8_t *before = mode_snapshot(dev, cmd, &before_len);

	if (t->mode_select_header &&
	    t->mode_select_header(dev, cmd, devspec, bd_len ? list + hdr : NULL, (uint16_t)hdr) !=
		0)
		goto out;
	for (uint32_t off = hdr + bd_len; off < n;) {
		const struct spc_mode_page *mp;
		uint32_t len;
		if (mode_select_check(dev, cmd, list, n, off, &mp, &len))
			goto out;
		if (mp->select && mp->select(dev, cmd, list + off, (uint16_t)off) != 0)
			goto out;
		off += len;
	}

out:;
	uint32_t after_len = 0;
	uint8_t *after = mode_snapshot(dev, cmd, &after_len);
	/* SPC-4 7.5.1 / SAM-5 5.14: the other I_T nexuses learn of a change
	 * through MODE PARAMETERS CHANGED. */
	if (before && after && (before_len != after_len || memcmp(before, after, before_len) != 0))
		spc_ua_raise_others(dev, cmd->nexus, ASC_MODE_PARAMETERS_CHANGED);
	free(before);
	free(after);
}

/*
 * Control mode page 0x0A (SPC-4 7.5.7). D_SENSE is changeable and selects
 * descriptor-format sense for every nexus (the dispatcher copies it into
 * each command). The rest reports what this device does: TST from
 * tst_per_nexus, QERR 00b, GLTSD = 1 (log parameters are never saved),
 * no ACA (NormACA = 0 in INQUIRY), TAS = 0.
 */
static void control_sense(struct scsi_dev *dev, int pc, uint8_t *p)
{
	if (pc == MODE_PC_CHANGEABLE) {
		p[2] = 0x04; /* D_SENSE */
		return;
	}
	p[2] = (uint8_t)((dev->tst_per_nexus ? 0x20 : 0) | 0x02);
	if (pc == MODE_PC_CURRENT && dev->d_sense)
		p[2] |= 0x04;
	p[3] = 0x00;		 /* QUEUE ALGORITHM MODIFIER 0, QERR 00b */
	put_be16(p + 8, 0xffff); /* BUSY TIMEOUT PERIOD: unlimited */
}

static int control_select(struct scsi_dev *dev, struct scsi_cmd *cmd, const uint8_t *page,
			  uint16_t offset)
{
	(void)cmd;
	(void)offset;
	dev->d_sense = page[2] & 0x04;
	return 0;
}

const struct spc_mode_page spc_control_mode_page = {
    .page = 0x0a,
    .subpage = 0x00,
    .len = 12,
    .sense = control_sense,
    .select = control_select,
};

/* Control extension subpage 0x0A/0x01 (SPC-4 7.5.8): SCSIP = 1, a SET
 * TIMESTAMP value is not overridden by other methods; TCMOS = 0. Nothing
 * is changeable. */
static void control_ext_sense(struct scsi_dev *dev, int pc, uint8_t *p)
{
	(void)dev;
	if (pc == MODE_PC_CHANGEABLE)
		return;
	p[4] = 0x02; /* SCSIP */
}

const struct spc_mode_page spc_control_ext_mode_page = {
    .page = 0x0a,
    .subpage = 0x01,
    .len = 32,
    .sense = control_ext_sense,
    .select = NULL,
};

/*
 * Informational Exceptions Control mode page 0x1C (SPC-4 7.5.7). DEXCPT,
 * LOGERR, MRIE, INTERVAL TIMER and REPORT COUNT are changeable and kept.
 * TEST, on a device type with TapeAlert flags, acts at once on the TEST
 * FLAG NUMBER sent in bytes 8-11 in place of REPORT COUNT, as the
 * TapeAlert specification has drives and libraries do (set flag n, clear
 * flag -n, 7FFFh sets every supported flag; Tandberg SLR and Quantum DDS
 * SCSI manuals, Oracle SL150 interface reference); it reads back as zero
 * and leaves REPORT COUNT as it was.
 *
 * The informational exception conditions are the TapeAlert flags
 * (type->ie_flags): a flag newly set is one, reported once as MRIE says
 * unless DEXCPT is one (spc_ie_report): 2h a unit attention for every
 * nexus, 3h and 4h CHECK CONDITION with RECOVERED ERROR on the next
 * command other than INQUIRY and REQUEST SENSE that completes GOOD (the
 * command itself has been carried out), 5h the same with NO SENSE, 6h
 * only in the parameter data of REQUEST SENSE, NO SENSE; each with
 * FAILURE PREDICTION THRESHOLD EXCEEDED (5Dh/00h), the "TapeAlert event"
 * of the Quantum DLT-S4 and DX-series references, or 5Dh/FFh (FALSE)
 * when a TEST FLAG NUMBER set the flag. 3h does not depend on the PER bit
 * here (tape drives have no read-write error recovery page in vtld), so
 * it acts as 4h, as the tape drive references describe it. EWASC and
 * PERF are fixed at zero: no warning conditions exist and reporting never
 * delays a command. An INTERVAL TIMER or REPORT COUNT asking for repeated
 * reports is kept but not acted on: each condition is reported once.
 */
enum { IEC_DEXCPT = 0x08, IEC_TEST = 0x04, IEC_LOGERR = 0x01 };

/* The MRIE in effect: none while DEXCPT is one. */
static uint8_t ie_method(const struct scsi_dev *dev)
{
	if (dev->iec_flags & IEC_DEXCPT)
		return IEC_MRIE_NONE;
	return dev->iec_mrie;
}

void spc_ie_report(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	if (!dev->type->ie_flags)
		return;
	uint8_t method = ie_method(dev);
	uint8_t op = cmd->cdb[0];

	if (dev->ie_pending && cmd->status == SAM_STAT_GOOD && op != INQUIRY &&
	    op != REQUEST_SENSE &&
	    (method == IEC_MRIE_CONDITIONAL_RECOVERED || method == IEC_MRIE_RECOVERED ||
	     method == IEC_MRIE_NO_SENSE)) {
		uint32_t in_len = cmd->in_len; /* the data went to the host */
		sense_set(cmd, method == IEC_MRIE_NO_SENSE ? SK_NO_SENSE : SK_RECOVERED_ERROR,
			  dev->ie_pending);
		cmd->in_len = in_len;
		dev->ie_pending = 0;
	}

	uint64_t now = dev->type->ie_flags(dev);
	uint64_t fresh = now & ~dev->ie_seen;
	dev->ie_seen = now;
	if (!fresh)
		return;
	uint16_t asc = dev->ie_test ? ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED_FALSE
				    : ASC_FAILURE_PREDICTION_THRESHOLD_EXCEEDED;
	dev->ie_test = false;
	switch (method) {
	case IEC_MRIE_UNIT_ATTENTION:
		spc_ua_raise_all(dev, asc);
		break;
	case IEC_MRIE_CONDITIONAL_RECOVERED:
	case IEC_MRIE_RECOVERED:
	case IEC_MRIE_NO_SENSE:
	case IEC_MRIE_ON_REQUEST:
		dev->ie_pending = asc;
		break;
	default:
		break;
	}
}

static void iec_sense(struct scsi_dev *dev, int pc, uint8_t *p)
{
	switch (pc) {
	case MODE_PC_CHANGEABLE:
		p[2] = IEC_DEXCPT | IEC_LOGERR | (dev->type->tapealert_test ? IEC_TEST : 0);
		p[3] = 0x0f;
		put_be32(p + 4, 0xffffffff);
		put_be32(p + 8, 0xffffffff);
		break;
	case MODE_PC_DEFAULT:
		break;
	default:
		p[2] = dev->iec_flags & (IEC_DEXCPT | IEC_LOGERR);
		p[3] = dev->iec_mrie & 0x0f;
		put_be32(p + 4, dev->iec_interval);
		put_be32(p + 8, dev->iec_count);
		break;
	}
}

static int iec_select(struct scsi_dev *dev, struct scsi_cmd *cmd, const uint8_t *page,
		      uint16_t offset)
{
	uint8_t mrie = page[3] & 0x0f;
	/* SPC-4 table 446: MRIE 0h..6h defined, the rest reserved. */
	if (mrie > 6) {
		sense_invalid_param(cmd, (uint16_t)(offset + 3), 3);
		return -1;
	}
	if (page[2] & IEC_TEST) {
		int32_t number = (int32_t)get_be32(page + 8);
		if (!dev->type->tapealert_test) {
			sense_invalid_param(cmd, (uint16_t)(offset + 2), 2);
			return -1;
		}
		if (dev->type->tapealert_test(dev, number)) {
			sense_invalid_param(cmd, (uint16_t)(offset + 8), -1);
			return -1;
		}
		dev->ie_test = true;
	} else {
		dev->iec_count = get_be32(page + 8);
	}
	dev->iec_flags = page[2] & (IEC_DEXCPT | IEC_LOGERR);
	dev->iec_mrie = mrie;
	dev->iec_interval = get_be32(page + 4);
	return 0;
}

const struct spc_mode_page spc_informational_exceptions_mode_page = {
    .page = 0x1c,
    .subpage = 0x00,
    .len = 12,
    .sense = iec_sense,
    .select = iec_select,
};

/* -------------------------------------------------------------------------
 * LOG SENSE (SPC-4 6.8) and LOG SELECT (SPC-4 6.7).
 */

static bool log_has_page(const struct scsi_dev_type *t, uint8_t page)
{
	for (size_t i = 0; i < t->n_log; i++)
		if (t->log[i].page == page)
			return true;
	return false;
}

static const struct spc_log_page *log_find(const struct scsi_dev_type *t, uint8_t page,
					   uint8_t subpage)
{
	for (size_t i = 0; i < t->n_log; i++)
		if (t->log[i].page == page && t->log[i].subpage == subpage)
			return &t->log[i];
	return NULL;
}

/* SPC-4 7.3.18 Supported Log Pages (subpage 0x00) and 7.3.19 Supported
 * Log Pages and Subpages (subpage 0xFF). */
static uint32_t log_supported(const struct scsi_dev_type *t, bool subpages, uint8_t *b)
{
	uint32_t n = 4;
	int last = -1;

	b[0] = subpages ? 0x40 : 0x00;
	b[1] = subpages ? 0xff : 0x00;
	for (;;) {
		/* Key is page << 8 | subpage; page 0 with its subpages
		 * 0x00 and 0xFF comes from this file. */
		int next = 0x10000;
		int own[2] = {0x0000, 0x00ff};
		for (int i = 0; i < (subpages ? 2 : 1); i++)
			if (own[i] > last && own[i] < next)
				next = own[i];
		for (size_t i = 0; i < t->n_log; i++) {
			if (!subpages && t->log[i].subpage)
				continue;
			int k = t->log[i].page << 8 | (subpages ? t->log[i].subpage : 0);
			if (k > last && k < next)
				next = k;
		}
		if (next == 0x10000)
			break;
		b[n++] = (uint8_t)(next >> 8);
		if (subpages)
			b[n++] = (uint8_t)next;
		last = next;
	}
	put_be16(b + 2, (uint16_t)(n - 4));
	return n;
}

/* Keep only the parameters whose code is at least `ptr` (SPC-4 6.8.1:
 * PARAMETER POINTER). Returns the new length, or 0 if none qualifies. */
static uint32_t log_from_pointer(uint8_t *b, uint32_t len, uint16_t ptr)
{
	uint32_t end = 4u + get_be16(b + 2);
	if (end > len)
		end = len;
	uint32_t w = 4;
	for (uint32_t r = 4; r + 4 <= end;) {
		uint32_t plen = 4u + b[r + 3];
		if (r + plen > end)
			break;
		if (get_be16(b + r) >= ptr) {
			memmove(b + w, b + r, plen);
			w += plen;
		}
		r += plen;
	}
	if (w == 4)
		return 0;
	put_be16(b + 2, (uint16_t)(w - 4));
	return w;
}

void spc_log_sense(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	const struct scsi_dev_type *t = dev->type;
	const uint8_t *cdb = cmd->cdb;
	uint8_t page = cdb[2] & 0x3f;
	uint8_t subpage = cdb[3];
	uint16_t ptr = get_be16(cdb + 5);
	uint32_t alloc = get_be16(cdb + 7);

	/* SPC-4 6.8.1: SP = 1 saves parameters, not supported; PPC (only
	 * parameters changed since the last LOG SENSE) is not tracked. The
	 * PC field is accepted; the pages report cumulative values for all
	 * four (threshold values are not implemented). */
	if (cdb[1] & 0x01) {
		sense_invalid_cdb(cmd, 1, 0);
		return;
	}
	if (cdb[1] & 0x02) {
		sense_invalid_cdb(cmd, 1, 1);
		return;
	}

	if (page == 0x00) {
		if (subpage != 0x00 && subpage != 0xff) {
			sense_invalid_cdb(cmd, 3, -1);
			return;
		}
		if (ptr) {
			sense_invalid_cdb(cmd, 5, -1);
			return;
		}
		uint8_t *b = scratch(cmd, 8 + 2 * t->n_log);
		if (!b)
			return;
		spc_respond(cmd, b, log_supported(t, subpage == 0xff, b), alloc);
		free(b);
		return;
	}

	const struct spc_log_page *lp = log_find(t, page, subpage);
	if (!lp) {
		sense_invalid_cdb(cmd, log_has_page(t, page) ? 3 : 2,
				  log_has_page(t, page) ? -1 : 5);
		return;
	}
	/* fill() gets no more room than the host asked for (all of the page
	 * with a PARAMETER POINTER, which needs it to pick from), so a page
	 * cleared when read is cleared only when the host gets all of it. */
	uint8_t small[1024];
	uint8_t *b = small;
	uint32_t want = ptr ? UINT32_MAX : alloc;
	uint32_t cap = want < sizeof(small) ? want : (uint32_t)sizeof(small);
	uint32_t len = lp->fill(dev, small, cap);
	if (len > cap && want > cap) {
		b = scratch(cmd, len);
		if (!b)
			return;
		cap = want < len ? want : len;
		len = lp->fill(dev, b, cap);
	}
	if (len > cap)
		len = cap; /* what fill() copied; the header still says the whole length */
	if (ptr) {
		len = log_from_pointer(b, len, ptr);
		if (!len) {
			sense_invalid_cdb(cmd, 5, -1);
			goto out;
		}
	}
	spc_respond(cmd, b, len, alloc);
out:
	if (b != small)
		free(b);
}

static void log_reset(struct scsi_dev *dev, const struct spc_log_page *only)
{
	const struct scsi_dev_type *t = dev->type;
	for (size_t i = 0; i < t->n_log; i++) {
		if (only && &t->log[i] != only)
			continue;
		if (t->log[i].reset)
			t->log[i].reset(dev);
	}
}

void spc_log_select(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	const struct scsi_dev_type *t = dev->type;
	const uint8_t *cdb = cmd->cdb;
	bool pcr = cdb[1] & 0x02;
	int pc = cdb[2] >> 6;
	uint8_t page = cdb[2] & 0x3f;
	uint8_t subpage = cdb[3];
	uint32_t plen = get_be16(cdb + 7);

	if (cdb[1] & 0x01) {
		sense_invalid_cdb(cmd, 1, 0); /* SP: saving not supported */
		return;
	}

	const struct spc_log_page *only = NULL;
	if (page || subpage) {
		only = log_find(t, page, subpage);
		if (!only) {
			sense_invalid_cdb(cmd, log_has_page(t, page) ? 3 : 2,
					  log_has_page(t, page) ? -1 : 5);
			return;
		}
	}

	if (pcr) {
		/* SPC-4 6.7.1: PCR = 1 with a parameter list is an error. */
		if (plen) {
			sense_invalid_cdb(cmd, 7, -1);
			return;
		}
		log_reset(dev, only);
		spc_ua_raise_others(dev, cmd->nexus, ASC_LOG_PARAMETERS_CHANGED);
		return;
	}
	if (plen == 0) {
		/* SPC-4 6.7.1 table 101: no list, PC = cumulative or default
		 * cumulative sets the cumulative values to their defaults;
		 * the threshold values are fixed, so 00b/10b change nothing. */
		if (pc == 1 || pc == 3) {
			log_reset(dev, only);
			spc_ua_raise_others(dev, cmd->nexus, ASC_LOG_PARAMETERS_CHANGED);
		}
		return;
	}

	/* A parameter list: only page headers without parameters are
	 * accepted, as no log parameter here is settable. */
	uint32_t n = param_avail(cmd, plen);
	const uint8_t *l = cmd->out;
	for (uint32_t off = 0; off < n;) {
		if (n - off < 4) {
			bad_param_len(cmd);
			return;
		}
		uint8_t lpage = l[off] & 0x3f;
		uint8_t lsub = (l[off] & 0x40) ? l[off + 1] : 0;
		if (!log_find(t, lpage, lsub)) {
			sense_invalid_param(cmd, (uint16_t)off, 5);
			return;
		}
		if (get_be16(l + off + 2)) {
			sense_set_field(cmd, ASC_PARAMETER_NOT_SUPPORTED, false,
					(uint16_t)(off + 4), -1);
			return;
		}
		off += 4;
	}
}

/* -------------------------------------------------------------------------
 * REPORT SUPPORTED OPERATION CODES (SPC-4 6.35), from the op table only.
 */

/* Recommended timeouts in the command timeouts descriptor (SPC-4
 * 6.35.4): medium commands may wait for the object store to bring data
 * back; 0 in the nominal field means "not specified". */
static uint32_t op_timeout(const struct scsi_op *op)
{
	return (op->flags & OPF_MEDIUM) ? 3600 : 60;
}

static void put_timeouts(uint8_t *p, const struct scsi_op *op)
{
	put_be16(p, 0x000a);
	p[2] = 0;
	p[3] = 0;
	put_be32(p + 4, 0);
	put_be32(p + 8, op_timeout(op));
}

static bool op_has_sa(const struct scsi_dev_type *t, uint8_t opcode)
{
	for (size_t i = 0; i < t->n_ops; i++)
		if (t->ops[i].opcode == opcode && (t->ops[i].flags & OPF_SA))
			return true;
	return false;
}

static bool op_exists(const struct scsi_dev_type *t, uint8_t opcode)
{
	for (size_t i = 0; i < t->n_ops; i++)
		if (t->ops[i].opcode == opcode)
			return true;
	return false;
}

void spc_report_supported_opcodes(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	const struct scsi_dev_type *t = dev->type;
	const uint8_t *cdb = cmd->cdb;
	bool rctd = cdb[2] & 0x80;
	uint8_t opts = cdb[2] & 0x07;
	uint8_t req_op = cdb[3];
	uint16_t req_sa = get_be16(cdb + 4);
	uint32_t alloc = get_be32(cdb + 6);
	uint32_t desc_len = rctd ? 20 : 8;

	if (opts == 0) {
		/* All commands: one 8-byte descriptor each (SPC-4 6.35.2),
		 * plus the 12-byte timeouts descriptor with RCTD. */
		uint32_t n = 4 + (uint32_t)t->n_ops * desc_len;
		uint8_t *b = scratch(cmd, n);
		if (!b)
			return;
		uint8_t *p = b + 4;
		for (size_t i = 0; i < t->n_ops; i++, p += desc_len) {
			const struct scsi_op *op = &t->ops[i];
			p[0] = op->opcode;
			if (op->flags & OPF_SA) {
				put_be16(p + 2, op->sa);
				p[5] |= 0x01; /* SERVACTV */
			}
			put_be16(p + 6, op->cdb_len);
			if (rctd) {
				p[5] |= 0x02; /* CTDP */
				put_timeouts(p + 8, op);
			}
		}
		put_be32(b, n - 4);
		spc_respond(cmd, b, n, alloc);
		free(b);
		return;
	}

	const struct scsi_op *op = NULL;
	switch (opts) {
	case 1:
		/* By opcode alone: wrong for one with service actions. */
		if (op_has_sa(t, req_op)) {
			sense_invalid_cdb(cmd, 3, -1);
			return;
		}
		op = spc_find_op(t, req_op, 0);
		break;
	case 2:
		/* By opcode and service action: the opcode must have them. */
		if (op_exists(t, req_op) && !op_has_sa(t, req_op)) {
			sense_invalid_cdb(cmd, 3, -1);
			return;
		}
		if (req_sa <= 0x1f)
			op = spc_find_op(t, req_op, (uint8_t)req_sa);
		break;
	case 3:
		/* Either: the service action matters only if the opcode has
		 * them; without, it must be zero to match. */
		if (op_has_sa(t, req_op)) {
			if (req_sa <= 0x1f)
				op = spc_find_op(t, req_op, (uint8_t)req_sa);
		} else if (req_sa == 0) {
			op = spc_find_op(t, req_op, 0);
		}
		break;
	default:
		sense_invalid_cdb(cmd, 2, 2);
		return;
	}

	/* One-command parameter data (SPC-4 6.35.3). */
	uint8_t b[4 + 16 + 12];
	memset(b, 0, sizeof(b));
	uint32_t n = 4;
	if (!op) {
		b[1] = 0x01; /* SUPPORT 001b: not supported */
	} else {
		b[1] = 0x03; /* SUPPORT 011b: supported as in the standard */
		put_be16(b + 2, op->cdb_len);
		memcpy(b + 4, op->usage, op->cdb_len);
		b[4] = op->opcode;
		if (op->flags & OPF_SA)
			b[5] = (uint8_t)((op->usage[1] & 0xe0) | op->sa);
		n += op->cdb_len;
		if (rctd) {
			b[1] |= 0x80; /* CTDP */
			put_timeouts(b + n, op);
			n += 12;
		}
	}
	spc_respond(cmd, b, n, alloc);
}

/*
 * REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS (SPC-4 6.37): what the iSCSI
 * target executes: ABORT TASK, ABORT TASK SET, CLEAR ACA, CLEAR TASK SET,
 * LOGICAL UNIT RESET, and TARGET (WARM/COLD) RESET, reported in the TRS
 * bit of SPC-3 (obsolete in SPC-4, still read by initiators).
 */
void spc_report_supported_tmfs(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	(void)dev;
	bool repd = cmd->cdb[2] & 0x80;
	uint8_t b[16];

	memset(b, 0, sizeof(b));
	b[0] = 0x80 | 0x40 | 0x20 | 0x10 | 0x08 | 0x02;
	if (repd)
		b[3] = 0x0c; /* ADDITIONAL DATA LENGTH; timeouts not given */
	spc_respond(cmd, b, repd ? 16 : 4, get_be32(cmd->cdb + 6));
}

/* -------------------------------------------------------------------------
 * Timestamp (SPC-4 5.12, 6.36 REPORT TIMESTAMP, 6.45 SET TIMESTAMP).
 */

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t spc_timestamp_now(const struct scsi_dev *dev)
{
	int64_t v = monotonic_ms() + dev->ts_offset_ms;
	/* The TIMESTAMP field is 48 bits wide. */
	return (uint64_t)v & 0xffffffffffffull;
}

void spc_report_timestamp(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	uint8_t b[12];

	memset(b, 0, sizeof(b));
	put_be16(b, 0x000a);	      /* TIMESTAMP PARAMETER DATA LENGTH */
	b[2] = dev->ts_origin & 0x07; /* TIMESTAMP ORIGIN (SPC-4 table 207) */
	put_be48(b + 4, spc_timestamp_now(dev));
	spc_respond(cmd, b, sizeof(b), get_be32(cmd->cdb + 6));
}

void spc_set_timestamp(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	uint32_t plen = get_be32(cmd->cdb + 6);

	if (plen == 0)
		return; /* SPC-4 6.45: no list, nothing to set */
	if (plen < 12 || param_avail(cmd, plen) < 12) {
		bad_param_len(cmd);
		return;
	}
	uint64_t ts = get_be48(cmd->out + 4);
	dev->ts_offset_ms = (int64_t)ts - monotonic_ms();
	dev->ts_origin = 0x02; /* 010b: set by SET TIMESTAMP */
	spc_ua_raise_others(dev, cmd->nexus, ASC_TIMESTAMP_CHANGED);
}

/* -------------------------------------------------------------------------
 * Reservations: the conflict check (SPC-4 5.13.1 table 63 with CRH = 1,
 * SPC-4 5.13.3, and SPC-2 5.5.1 for RESERVE(6)).
 */

static struct spc_pr_reg *pr_reg_of(struct scsi_dev *dev, uint64_t nexus)
{
	for (uint32_t i = 0; i < dev->pr.n_regs; i++)
		if (dev->pr.regs[i].nexus == nexus)
			return &dev->pr.regs[i];
	return NULL;
}

static bool pr_all_regs(uint8_t type)
{
	return type == PR_WE_AR || type == PR_EA_AR;
}

static bool pr_regs_only(uint8_t type)
{
	return type == PR_WE_RO || type == PR_EA_RO;
}

static bool pr_write_excl(uint8_t type)
{
	return type == PR_WE || type == PR_WE_RO || type == PR_WE_AR;
}

static bool pr_valid_type(uint8_t type)
{
	return type == PR_WE || type == PR_EA || pr_regs_only(type) || pr_all_regs(type);
}

/* SPC-4 5.13.10: with an all-registrants type every registrant holds. */
static bool pr_is_holder(struct scsi_dev *dev, uint64_t nexus)
{
	if (!dev->pr.held)
		return false;
	if (pr_all_regs(dev->pr.type))
		return pr_reg_of(dev, nexus) != NULL;
	return dev->pr.holder == nexus;
}

static bool is_reserve_release(uint8_t opcode)
{
	return opcode == RESERVE_6 || opcode == RELEASE_6 || opcode == RESERVE_10 ||
	       opcode == RELEASE_10;
}

/* PREVENT ALLOW MEDIUM REMOVAL with PREVENT = 0 is allowed under every
 * reservation (SPC-2 5.5.1, SPC-4 table 63). */
static bool is_allow_removal(const struct scsi_cmd *cmd)
{
	return cmd->cdb[0] == PREVENT_ALLOW_MEDIUM_REMOVAL && (cmd->cdb[4] & 0x03) == 0;
}

/* SPC-2 5.5.1 / 7.21: what another initiator may still do while a unit is
 * reserved by RESERVE(6). */
static bool spc2_allowed(const struct scsi_cmd *cmd)
{
	switch (cmd->cdb[0]) {
	case INQUIRY:
	case REQUEST_SENSE:
	case LOG_SENSE:
	case REPORT_LUNS:
	case RELEASE_6:
	case RELEASE_10:
		return true;
	default:
		return is_allow_removal(cmd);
	}
}

/*
 * The rows of SPC-4 table 63 for the SPC commands, which this file knows
 * better than any device table; the device type's own commands are
 * classified by their table flags: OPF_CONFLICT_OK allowed under every
 * type, OPF_PR_READ allowed under the write-exclusive types.
 */
enum pr_access {
	PR_ACC_ALLOWED,	 /* allowed from any nexus */
	PR_ACC_WE,	 /* allowed under Write Exclusive types, else conflict */
	PR_ACC_CONFLICT, /* conflict for a non-holder */
	PR_ACC_BY_FLAGS, /* not an SPC command: the op flags decide */
};

static enum pr_access spc_pr_row(const struct scsi_cmd *cmd)
{
	uint8_t sa = cmd->cdb[1] & 0x1f;

	switch (cmd->cdb[0]) {
	case INQUIRY:
	case LOG_SENSE:
	case REPORT_LUNS:
	case REQUEST_SENSE:
	case TEST_UNIT_READY:
	case PERSISTENT_RESERVE_IN:
	case PERSISTENT_RESERVE_OUT: /* each service action checks itself */
		return PR_ACC_ALLOWED;
	case PREVENT_ALLOW_MEDIUM_REMOVAL:
		return is_allow_removal(cmd) ? PR_ACC_ALLOWED : PR_ACC_CONFLICT;
	case MODE_SENSE_6:
	case MODE_SENSE_10:
	case READ_ATTRIBUTE:
	case READ_BUFFER:
	case RECEIVE_DIAGNOSTIC_RESULTS:
	case SECURITY_PROTOCOL_IN:
		return PR_ACC_WE;
	case MODE_SELECT_6:
	case MODE_SELECT_10:
	case LOG_SELECT:
	case SEND_DIAGNOSTIC:
	case WRITE_BUFFER:
	case WRITE_ATTRIBUTE:
	case MAINTENANCE_OUT:
		return PR_ACC_CONFLICT;
	case SERVICE_ACTION_IN_12:
		if (sa == SAI12_READ_MEDIA_SERIAL_NUMBER)
			return PR_ACC_ALLOWED;
		break;
	case MAINTENANCE_IN:
		switch (sa) {
		case MI_REPORT_SUPPORTED_OPERATION_CODES:
		case MI_REPORT_SUPPORTED_TMFS:
			return PR_ACC_WE;
		case MI_REPORT_TIMESTAMP:
		case MI_REPORT_TARGET_PORT_GROUPS:
		case MI_REPORT_IDENTIFYING_INFORMATION:
			return PR_ACC_ALLOWED;
		default:
			break;
		}
		break;
	default:
		break;
	}
	return PR_ACC_BY_FLAGS;
}

bool spc_reservation_conflict(struct scsi_dev *dev, const struct scsi_op *op,
			      const struct scsi_cmd *cmd)
{
	uint64_t nexus = cmd->nexus;
	uint8_t opcode = cmd->cdb[0];

	/*
	 * SPC-4 5.13.3 (CRH = 1): while any I_T nexus is registered,
	 * RESERVE and RELEASE conflict, except from a reservation holder or
	 * from a registrant under a registrants-only or all-registrants
	 * reservation, where they complete GOOD and change nothing (the
	 * handlers do that part).
	 */
	if (is_reserve_release(opcode) && dev->pr.n_regs > 0) {
		if (pr_is_holder(dev, nexus))
			return false;
		if (dev->pr.held && pr_regs_only(dev->pr.type) && pr_reg_of(dev, nexus))
			return false;
		return true;
	}

	/* SPC-2: a RESERVE(6) reservation shuts out every other nexus but
	 * for a few commands. */
	if (dev->resv6_held && dev->resv6_holder != nexus)
		return !spc2_allowed(cmd);

	if (!dev->pr.held || pr_is_holder(dev, nexus))
		return false;

	/* SPC-4 table 63, a non-holder under a persistent reservation. A
	 * registrant under a registrants-only type has full access. */
	if (pr_regs_only(dev->pr.type) && pr_reg_of(dev, nexus))
		return false;
	enum pr_access acc = spc_pr_row(cmd);
	if (acc == PR_ACC_BY_FLAGS) {
		if (op->flags & OPF_CONFLICT_OK)
			acc = PR_ACC_ALLOWED;
		else if (op->flags & OPF_PR_READ)
			acc = PR_ACC_WE;
		else
			acc = PR_ACC_CONFLICT;
	}
	switch (acc) {
	case PR_ACC_ALLOWED:
		return false;
	case PR_ACC_WE:
		return !pr_write_excl(dev->pr.type);
	default:
		return true;
	}
}

/* -------------------------------------------------------------------------
 * RESERVE(6) and RELEASE(6) (SPC-2 7.21, 7.16).
 */
void spc_reserve6(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	/* SPC-4 5.13.3: under registrations, a permitted RESERVE changes
	 * nothing. */
	if (dev->pr.n_regs > 0)
		return;
	if (dev->resv6_held && dev->resv6_holder != cmd->nexus) {
		cmd->status = SAM_STAT_RESERVATION_CONFLICT;
		return;
	}
	dev->resv6_held = true;
	dev->resv6_holder = cmd->nexus;
}

void spc_release6(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	/* SPC-2 7.16: a RELEASE from a nexus that holds nothing is GOOD and
	 * has no effect; under registrations it never releases a PR. */
	if (dev->pr.n_regs > 0)
		return;
	if (dev->resv6_held && dev->resv6_holder == cmd->nexus)
		dev->resv6_held = false;
}

/* -------------------------------------------------------------------------
 * PERSISTENT RESERVE IN (SPC-4 6.15).
 */

static uint32_t pri_read_keys(struct scsi_dev *dev, uint8_t *b)
{
	put_be32(b, dev->pr.generation);
	put_be32(b + 4, dev->pr.n_regs * 8);
	for (uint32_t i = 0; i < dev->pr.n_regs; i++)
		put_be64(b + 8 + 8 * i, dev->pr.regs[i].key);
	return 8 + dev->pr.n_regs * 8;
}

static uint32_t pri_read_reservation(struct scsi_dev *dev, uint8_t *b)
{
	put_be32(b, dev->pr.generation);
	if (!dev->pr.held) {
		put_be32(b + 4, 0);
		return 8;
	}
	put_be32(b + 4, 16);
	/* SPC-4 6.15.3.3: the key is zero for all-registrants types. */
	put_be64(b + 8, pr_all_regs(dev->pr.type) ? 0 : dev->pr.holder_key);
	b[21] = dev->pr.type & 0x0f; /* SCOPE 0: logical unit */
	return 24;
}

static uint32_t pri_report_capabilities(uint8_t *b)
{
	put_be16(b, 8);
	b[2] = 0x10; /* CRH; SIP_C, ATP_C, PTPL_C = 0 */
	/* TMV; ALLOW COMMANDS 010b: TEST UNIT READY passes every
	 * reservation and MODE SENSE, READ ATTRIBUTE, READ BUFFER, RECEIVE
	 * DIAGNOSTIC RESULTS and the REPORT SUPPORTED commands pass Write
	 * Exclusive ones (spc_pr_row); PTPL_A = 0. */
	b[3] = 0x80 | 0x20;
	/* PERSISTENT RESERVATION TYPE MASK (SPC-4 6.15.4 table 170). */
	b[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02; /* WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX */
	b[5] = 0x01;				 /* EX_AC_AR */
	return 8;
}

/*
 * READ FULL STATUS (SPC-4 6.15.5). Each registrant's TransportID is the
 * iSCSI form of SPC-4 7.6.4.6 (PROTOCOL IDENTIFIER 5h, FORMAT CODE 01b:
 * the initiator port name "iqn...,i,0x<ISID>", NUL-terminated and padded to
 * a multiple of 4) built from the name the frontend gave with the
 * registering command. A registrant whose frontend gave no name (only
 * in-process callers do) gets the 24-byte form with PROTOCOL IDENTIFIER Fh
 * (no specific protocol) carrying the nexus id.
 */
enum { FULL_DESC_HDR = 24, FULL_DESC_MAX = FULL_DESC_HDR + 4 + SPC_PORT_NAME_MAX + 4 };

static uint32_t transport_id(const struct spc_pr_reg *r, uint8_t *p)
{
	size_t name_len = strlen(r->port_name);
	if (name_len == 0) {
		memset(p, 0, 24);
		p[0] = 0x0f;
		put_be64(p + 4, r->nexus);
		return 24;
	}
	uint32_t add = (uint32_t)((name_len + 1 + 3) & ~(size_t)3);
	if (add < 20)
		add = 20; /* SPC-4 7.6.4.6: at least 24 bytes in all */
	memset(p, 0, 4 + add);
	p[0] = 0x40 | 0x05;
	put_be16(p + 2, (uint16_t)add);
	memcpy(p + 4, r->port_name, name_len);
	return 4 + add;
}

static uint32_t pri_read_full_status(struct scsi_dev *dev, uint8_t *b)
{
	uint32_t off = 8;

	put_be32(b, dev->pr.generation);
	for (uint32_t i = 0; i < dev->pr.n_regs; i++) {
		const struct spc_pr_reg *r = &dev->pr.regs[i];
		uint8_t *p = b + off;
		memset(p, 0, FULL_DESC_HDR);
		put_be64(p, r->key);
		if (pr_is_holder(dev, r->nexus)) {
			p[12] = 0x01; /* R_HOLDER */
			p[13] = dev->pr.type & 0x0f;
		}
		put_be16(p + 18, dev->ident.rel_port ? dev->ident.rel_port : 1);
		uint32_t tid = transport_id(r, p + FULL_DESC_HDR);
		put_be32(p + 20, tid);
		off += FULL_DESC_HDR + tid;
	}
	put_be32(b + 4, off - 8);
	return off;
}

void spc_persistent_reserve_in(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	uint8_t sa = cmd->cdb[1] & 0x1f;
	uint32_t alloc = get_be16(cmd->cdb + 7);
	uint8_t *b = scratch(cmd, 8 + SPC_MAX_PR_KEYS * FULL_DESC_MAX);
	uint32_t n;

	if (!b)
		return;
	switch (sa) {
	case PRI_READ_KEYS:
		n = pri_read_keys(dev, b);
		break;
	case PRI_READ_RESERVATION:
		n = pri_read_reservation(dev, b);
		break;
	case PRI_REPORT_CAPABILITIES:
		n = pri_report_capabilities(b);
		break;
	case PRI_READ_FULL_STATUS:
		n = pri_read_full_status(dev, b);
		break;
	default:
		sense_invalid_cdb(cmd, 1, 4);
		free(b);
		return;
	}
	spc_respond(cmd, b, n, alloc);
	free(b);
}

/* -------------------------------------------------------------------------
 * PERSISTENT RESERVE OUT (SPC-4 5.13, 6.16).
 */

static void conflict(struct scsi_cmd *cmd)
{
	cmd->status = SAM_STAT_RESERVATION_CONFLICT;
	cmd->sense_len = 0;
}

static void pr_release(struct scsi_dev *dev)
{
	dev->pr.held = false;
	dev->pr.holder = 0;
	dev->pr.holder_key = 0;
	dev->pr.type = 0;
}

/* Tell every registrant but `except` that the reservation went away. */
static void ua_registrants(struct scsi_dev *dev, uint64_t except, uint16_t asc)
{
	for (uint32_t i = 0; i < dev->pr.n_regs; i++)
		if (dev->pr.regs[i].nexus != except)
			spc_ua_raise(dev, dev->pr.regs[i].nexus, asc);
}

/*
 * Remove the registration at index i (SPC-4 5.13.11.3). If it belonged to
 * the holder of a reservation that is not all-registrants, the reservation
 * is released, and for a registrants-only type the other registrants are
 * told so (RESERVATIONS RELEASED). An all-registrants reservation ends with
 * its last registrant.
 */
static void pr_unregister(struct scsi_dev *dev, uint32_t i, bool notify_release)
{
	struct spc_pr *pr = &dev->pr;
	uint64_t nexus = pr->regs[i].nexus;
	bool was_holder = pr->held && !pr_all_regs(pr->type) && pr->holder == nexus;

	memmove(&pr->regs[i], &pr->regs[i + 1], (pr->n_regs - i - 1) * sizeof(pr->regs[0]));
	pr->n_regs--;
	if (was_holder) {
		if (notify_release && pr_regs_only(pr->type))
			ua_registrants(dev, nexus, ASC_RESERVATIONS_RELEASED);
		pr_release(dev);
	} else if (pr->held && pr_all_regs(pr->type) && pr->n_regs == 0) {
		pr_release(dev);
	}
}

static void pro_register(struct scsi_dev *dev, struct scsi_cmd *cmd, bool ignore_key, uint64_t key,
			 uint64_t sa_key)
{
	struct spc_pr *pr = &dev->pr;
	struct spc_pr_reg *reg = pr_reg_of(dev, cmd->nexus);

	if (!reg) {
		/* SPC-4 5.13.7: an unregistered nexus must send key 0
		 * unless it ignores the existing key. */
		if (!ignore_key && key != 0) {
			conflict(cmd);
			return;
		}
		if (sa_key == 0)
			return; /* nothing to register, nothing to do */
		if (pr->n_regs == SPC_MAX_PR_KEYS) {
			sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_INSUFFICIENT_REGISTRATION_RESOURCES);
			return;
		}
		pr->regs[pr->n_regs].nexus = cmd->nexus;
		pr->regs[pr->n_regs].key = sa_key;
		snprintf(pr->regs[pr->n_regs].port_name, sizeof(pr->regs[0].port_name), "%s",
			 cmd->initiator_port ? cmd->initiator_port : "");
		pr->n_regs++;
		pr->generation++;
		return;
	}
	if (!ignore_key && key != reg->key) {
		conflict(cmd);
		return;
	}
	if (sa_key == 0) {
		pr_unregister(dev, (uint32_t)(reg - pr->regs), true);
	} else {
		reg->key = sa_key;
		if (pr->held && pr->holder == cmd->nexus)
			pr->holder_key = sa_key;
	}
	pr->generation++;
}

static void pro_reserve(struct scsi_dev *dev, struct scsi_cmd *cmd, uint8_t type)
{
	struct spc_pr *pr = &dev->pr;

	/* SPC-4 5.13.9: a reservation exists, held by this nexus with the
	 * same type (GOOD, nothing changes) or else a conflict. */
	if (pr->held) {
		if (!pr_is_holder(dev, cmd->nexus) || pr->type != type)
			conflict(cmd);
		return;
	}
	struct spc_pr_reg *reg = pr_reg_of(dev, cmd->nexus);
	pr->held = true;
	pr->type = type;
	pr->holder = cmd->nexus;
	pr->holder_key = reg->key;
}

static void pro_release(struct scsi_dev *dev, struct scsi_cmd *cmd, uint8_t type)
{
	struct spc_pr *pr = &dev->pr;

	/* SPC-4 5.13.11.2: nothing to release, or not the holder: GOOD. */
	if (!pr->held || !pr_is_holder(dev, cmd->nexus))
		return;
	if (pr->type != type) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_INVALID_RELEASE_OF_PERSISTENT_RESERVATION);
		return;
	}
	uint8_t old = pr->type;
	pr_release(dev);
	if (pr_regs_only(old) || pr_all_regs(old))
		ua_registrants(dev, cmd->nexus, ASC_RESERVATIONS_RELEASED);
}

static void pro_clear(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct spc_pr *pr = &dev->pr;

	/* SPC-4 5.13.11.6 (CLEAR): every other registrant learns that its
	 * registration and any reservation are gone. */
	ua_registrants(dev, cmd->nexus, ASC_RESERVATIONS_PREEMPTED);
	pr_release(dev);
	pr->n_regs = 0;
	pr->generation++;
}

/* Remove registrations with `key`, sparing `keep` (0 spares none); UA
 * REGISTRATIONS PREEMPTED to each removed nexus except the issuer.
 * Returns how many were removed. */
static uint32_t pr_remove_key(struct scsi_dev *dev, uint64_t key, uint64_t issuer,
			      bool spare_issuer)
{
	struct spc_pr *pr = &dev->pr;
	uint32_t removed = 0;

	for (uint32_t i = 0; i < pr->n_regs;) {
		struct spc_pr_reg *r = &pr->regs[i];
		if (r->key != key || (spare_issuer && r->nexus == issuer)) {
			i++;
			continue;
		}
		uint64_t nexus = r->nexus;
		pr_unregister(dev, i, false);
		if (nexus != issuer)
			spc_ua_raise(dev, nexus, ASC_REGISTRATIONS_PREEMPTED);
		removed++;
	}
	return removed;
}

/*
 * PREEMPT and PREEMPT AND ABORT (SPC-4 5.13.11.4). Commands here complete
 * one at a time under dev->lock, so there are no tasks of the preempted
 * nexuses to abort: PREEMPT AND ABORT behaves as PREEMPT.
 */
static void pro_preempt(struct scsi_dev *dev, struct scsi_cmd *cmd, uint8_t type, uint64_t sa_key)
{
	struct spc_pr *pr = &dev->pr;
	uint64_t me = cmd->nexus;

	if (pr->held && pr_all_regs(pr->type) && sa_key == 0) {
		/* 5.13.11.4.3: preempting an all-registrants reservation
		 * with key 0 removes every other registrant and gives the
		 * issuer a new reservation. */
		for (uint32_t i = 0; i < pr->n_regs;) {
			if (pr->regs[i].nexus == me) {
				i++;
				continue;
			}
			uint64_t nexus = pr->regs[i].nexus;
			memmove(&pr->regs[i], &pr->regs[i + 1],
				(pr->n_regs - i - 1) * sizeof(pr->regs[0]));
			pr->n_regs--;
			spc_ua_raise(dev, nexus, ASC_REGISTRATIONS_PREEMPTED);
		}
		pr->held = true;
		pr->type = type;
		pr->holder = me;
		pr->holder_key = pr_reg_of(dev, me)->key;
		pr->generation++;
		return;
	}
	if (sa_key == 0) {
		/* 5.13.11.4.4: key 0 preempts nothing but an
		 * all-registrants reservation. */
		sense_invalid_param(cmd, 8, -1);
		return;
	}
	if (pr->held && !pr_all_regs(pr->type) && pr->holder_key == sa_key) {
		/* 5.13.11.4.3: preempt the holder: release, remove the
		 * registrations with that key (not the issuer's), reserve
		 * for the issuer. */
		uint8_t old_type = pr->type;
		pr_release(dev);
		pr_remove_key(dev, sa_key, me, true);
		pr->held = true;
		pr->type = type;
		pr->holder = me;
		pr->holder_key = pr_reg_of(dev, me)->key;
		/* A changed type is news to the registrants that remain. */
		if (old_type != type)
			ua_registrants(dev, me, ASC_RESERVATIONS_RELEASED);
		pr->generation++;
		return;
	}
	/* 5.13.11.4.4: only registrations go; none matching is a conflict. */
	if (pr_remove_key(dev, sa_key, me, false) == 0) {
		conflict(cmd);
		return;
	}
	pr->generation++;
}

void spc_persistent_reserve_out(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	uint8_t sa = cdb[1] & 0x1f;
	uint8_t scope = cdb[2] >> 4;
	uint8_t type = cdb[2] & 0x0f;
	uint32_t plen = get_be32(cdb + 5);

	switch (sa) {
	case PRO_REGISTER:
	case PRO_RESERVE:
	case PRO_RELEASE:
	case PRO_CLEAR:
	case PRO_PREEMPT:
	case PRO_PREEMPT_AND_ABORT:
	case PRO_REGISTER_AND_IGNORE:
		break;
	default:
		/* REGISTER AND MOVE, REPLACE LOST RESERVATION: not here. */
		sense_invalid_cdb(cmd, 1, 4);
		return;
	}
	/* SPC-4 6.16.3: the basic parameter list is exactly 24 bytes. */
	if (plen != PRO_PARAM_LEN || param_avail(cmd, plen) < PRO_PARAM_LEN) {
		bad_param_len(cmd);
		return;
	}
	const uint8_t *p = cmd->out;
	uint64_t key = get_be64(p);
	uint64_t sa_key = get_be64(p + 8);
	bool spec_i_pt = p[20] & 0x08, all_tg_pt = p[20] & 0x04, aptpl = p[20] & 0x01;
	bool registering = sa == PRO_REGISTER || sa == PRO_REGISTER_AND_IGNORE;

	if (spec_i_pt) {
		sense_invalid_param(cmd, 20, 3); /* SIP_C = 0 */
		return;
	}
	if (registering && all_tg_pt) {
		sense_invalid_param(cmd, 20, 2); /* ATP_C = 0 */
		return;
	}
	if (registering && aptpl) {
		sense_invalid_param(cmd, 20, 0); /* PTPL_C = 0 */
		return;
	}
	bool typed = sa == PRO_RESERVE || sa == PRO_RELEASE || sa == PRO_PREEMPT ||
		     sa == PRO_PREEMPT_AND_ABORT;
	if (typed && scope != 0) {
		sense_invalid_cdb(cmd, 2, 7); /* only LU_SCOPE */
		return;
	}
	if (typed && !pr_valid_type(type)) {
		sense_invalid_cdb(cmd, 2, 3);
		return;
	}

	if (registering) {
		pro_register(dev, cmd, sa == PRO_REGISTER_AND_IGNORE, key, sa_key);
		return;
	}
	/* Every other action needs a registered nexus and its key
	 * (SPC-4 5.13.1: RESERVATION CONFLICT otherwise). */
	struct spc_pr_reg *reg = pr_reg_of(dev, cmd->nexus);
	if (!reg || reg->key != key) {
		conflict(cmd);
		return;
	}
	switch (sa) {
	case PRO_RESERVE:
		pro_reserve(dev, cmd, type);
		break;
	case PRO_RELEASE:
		pro_release(dev, cmd, type);
		break;
	case PRO_CLEAR:
		pro_clear(dev, cmd);
		break;
	default:
		pro_preempt(dev, cmd, type, sa_key);
		break;
	}
}

/* -------------------------------------------------------------------------
 * PREVENT ALLOW MEDIUM REMOVAL (SPC-4 6.13; SSC-4 and SMC-3, "PREVENT
 * ALLOW MEDIUM REMOVAL command").
 *
 * The state is one flag and the nexus that set it: an ALLOW from another
 * nexus leaves a prevention in place, as a per-nexus prevention would
 * (SPC-4 6.13: removal is allowed once no nexus prevents it).
 */
void spc_prevent_allow(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	uint8_t prevent = cmd->cdb[4] & 0x03;

	/* PREVENT 10b and 11b are obsolete or reserved for tape and
	 * changer devices. */
	if (prevent > 1) {
		sense_invalid_cdb(cmd, 4, 1);
		return;
	}
	if (prevent) {
		dev->prevent_removal = true;
		dev->prevent_nexus = cmd->nexus;
	} else if (!dev->prevent_removal || dev->prevent_nexus == cmd->nexus) {
		dev->prevent_removal = false;
	}
}

/* -------------------------------------------------------------------------
 * SEND DIAGNOSTIC (SPC-4 6.42): only the default self-test (SELFTEST = 1,
 * SELF-TEST CODE 000b, no parameter list), which a virtual device passes.
 */
void spc_send_diagnostic(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	(void)dev;
	const uint8_t *cdb = cmd->cdb;
	uint8_t code = cdb[1] >> 5;
	bool selftest = cdb[1] & 0x04;

	if (!selftest) {
		/* Diagnostic pages or a background/foreground self-test
		 * code: not implemented. */
		if (code)
			sense_invalid_cdb(cmd, 1, 7);
		else
			sense_invalid_cdb(cmd, 1, 2);
		return;
	}
	if (code) {
		sense_invalid_cdb(cmd, 1, 7); /* SELFTEST = 1 needs code 000b */
		return;
	}
	if (get_be16(cdb + 3)) {
		sense_invalid_cdb(cmd, 3, -1); /* SPC-4 6.42: length must be 0 */
		return;
	}
}
