/*
 * smc.c - the media changer (SMC-3): element layout, READ ELEMENT STATUS,
 * MOVE MEDIUM and the rest of the changer command set, on top of the
 * common SPC-4 code (spc.c) and table-driven dispatch (dispatch.c).
 *
 * The inventory is the backend's (the catalog behind the library model,
 * see smc.h); this file owns the layout, the CDB and parameter formats, the
 * import/export port's open/closed state and the choice of sense data.
 *
 * Sense data follows what real libraries report, so that backup software
 * that special-cases them keeps working:
 *   - source empty: ILLEGAL REQUEST, MEDIUM SOURCE ELEMENT EMPTY (3B/0E);
 *   - destination full: ILLEGAL REQUEST, MEDIUM DESTINATION ELEMENT FULL
 *     (3B/0D) (SMC-3; IBM TS3310 and Dell TL2000 sense tables);
 *   - an address that is not an element of the right kind: ILLEGAL
 *     REQUEST, INVALID ELEMENT ADDRESS (21/01) with the field pointer on
 *     the address (Quantum/Exabyte, IBM);
 *   - a drive whose cartridge the host has not unloaded: ILLEGAL REQUEST,
 *     UNLOAD TAPE FAILURE (53/01), as IBM's TS3310 reports "a drive did not
 *     unload a cartridge" (the library does not unload on its own);
 *   - OPEN IMPORT/EXPORT ELEMENT while an initiator prevents medium
 *     removal: ILLEGAL REQUEST, MEDIUM REMOVAL PREVENTED (53/02) (Dell
 *     TL2000 "library media removal prevented state set");
 *   - a move through an open import/export port: ILLEGAL REQUEST, MEDIUM
 *     MAGAZINE NOT ACCESSIBLE (3B/11).
 */
#include "config.h"

#include "smc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "be.h"
#include "sense.h"
#include "tapealert.h"

/* The translate of the last SEND VOLUME TAG (SMC-3), which REQUEST
 * VOLUME ELEMENT ADDRESS reports; one, kept for the nexus that sent it. */
struct smc_search {
	bool valid;
	uint64_t nexus;
	uint8_t action;
	uint8_t type;	    /* element type code of the SEND VOLUME TAG */
	char tmpl[33];	    /* volume identification template, blanks trimmed */
	uint32_t next_addr; /* lowest address a later report may show */
	bool match_nothing; /* an alternate tag, or sequence numbers above 0 */
};

struct smc_changer {
	struct smc_config cfg;
	size_t n_elements;
	struct smc_element *scratch; /* one per element, address order */
	bool ie_open;
	struct smc_search search;
	uint64_t tapealert; /* SMC-3 TapeAlert flags (tapealert.h); cleared when read */
};

enum {
	VOLTAG_LEN = 36, /* SMC-3: 32-byte volume identifier, 2 reserved, 2 sequence */
	VOLTAG_ID_LEN = 32,
	DVCID_LEN = 32, /* the unit serial number, space padded */
	DESC_BASE = 12, /* element descriptor bytes before the volume tag */
	ID_HDR = 4,	/* code set, identifier type, reserved, identifier length */
	STATUS_HDR = 8, /* element status data header */
	PAGE_HDR = 8,	/* element status page header */
};

/* Element descriptor byte 2 flags (SMC-3). */
enum {
	EL_FULL = 0x01,
	EL_IMPEXP = 0x02,
	EL_EXCEPT = 0x04,
	EL_ACCESS = 0x08,
	EL_EXENAB = 0x10,
	EL_INENAB = 0x20,
};

enum {
	PVOLTAG = 0x80,
	SVALID = 0x80,
	MEDIUM_TYPE_DATA = 0x01,
	MEDIUM_TYPE_CLEANING = 0x02,
	CODE_SET_ASCII = 0x02,
	LU_VALID = 0x10,
};

enum { IE_ACTION_OPEN = 0x00, IE_ACTION_CLOSE = 0x01 };

static struct smc_changer *changer(const struct scsi_dev *dev)
{
	return dev->priv;
}

int smc_element_type_of(const struct scsi_dev *dev, uint16_t addr)
{
	const struct smc_layout *l = &changer(dev)->cfg.layout;
	for (int t = SMC_ET_TRANSPORT; t <= SMC_ET_DRIVE; t++)
		if (addr >= l->base[t] && (uint32_t)addr < (uint32_t)l->base[t] + l->count[t])
			return t;
	return -1;
}

uint16_t smc_element_addr(const struct scsi_dev *dev, enum smc_element_type type, uint32_t ordinal)
{
	const struct smc_layout *l = &changer(dev)->cfg.layout;
	return (uint16_t)(l->base[type] + ordinal - 1);
}

bool smc_ie_open(const struct scsi_dev *dev)
{
	return changer(dev)->ie_open;
}

void smc_notify(struct scsi_dev *dev, uint16_t asc_ascq)
{
	spc_ua_raise_all(dev, asc_ascq);
}

/* Fresh inventory of every element into ch->scratch. */
static int load_inventory(struct smc_changer *ch)
{
	for (size_t i = 0; i < ch->n_elements; i++) {
		uint16_t addr = ch->scratch[i].addr;
		uint8_t type = ch->scratch[i].type;
		memset(&ch->scratch[i], 0, sizeof(ch->scratch[i]));
		ch->scratch[i].addr = addr;
		ch->scratch[i].type = type;
	}
	return ch->cfg.backend.inventory(ch->cfg.backend.ctx, ch->scratch, ch->n_elements);
}

static struct smc_element *find(struct smc_changer *ch, uint16_t addr)
{
	for (size_t i = 0; i < ch->n_elements; i++)
		if (ch->scratch[i].addr == addr)
			return &ch->scratch[i];
	return NULL;
}

static bool inventory_or_fail(struct smc_changer *ch, struct scsi_cmd *cmd)
{
	if (load_inventory(ch) == 0)
		return true;
	tapealert_raise(&ch->tapealert, TA_LIB_INVENTORY);
	sense_set(cmd, SK_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE);
	return false;
}

static void invalid_element(struct scsi_cmd *cmd, uint16_t byte)
{
	sense_set_field(cmd, ASC_INVALID_ELEMENT_ADDRESS, true, byte, -1);
}

/* ---- READ ELEMENT STATUS (SMC-3) ---------------------------------- */

static uint16_t desc_len(uint8_t type, bool voltag, bool dvcid)
{
	return (uint16_t)(DESC_BASE + (voltag ? VOLTAG_LEN : 0) + ID_HDR +
			  (dvcid && type == SMC_ET_DRIVE ? DVCID_LEN : 0));
}

static void fill_descriptor(const struct smc_changer *ch, const struct smc_element *e, uint8_t *d,
			    bool voltag, bool dvcid)
{
	uint8_t flags = 0;

	put_be16(d, e->addr);
	if (e->full)
		flags |= EL_FULL;
	if (e->except)
		flags |= EL_EXCEPT;
	switch (e->type) {
	case SMC_ET_STORAGE:
		flags |= EL_ACCESS;
		break;
	case SMC_ET_IE:
		/* The transport reaches the port only while it is closed;
		 * import and export are always enabled. */
		if (!ch->ie_open)
			flags |= EL_ACCESS;
		if (e->full && e->impexp)
			flags |= EL_IMPEXP;
		flags |= EL_EXENAB | EL_INENAB;
		break;
	case SMC_ET_DRIVE:
		/* The picker can take the cartridge only once it is unloaded. */
		if (!e->full || !e->loaded)
			flags |= EL_ACCESS;
		break;
	default:
		break;
	}
	d[2] = flags;
	if (e->except)
		put_be16(d + 4, e->asc_ascq);
	if (e->type == SMC_ET_DRIVE && e->lu_valid && e->lun < 8)
		d[6] = (uint8_t)(LU_VALID | e->lun);
	if (e->full) {
		/* SMC-3 element descriptor MEDIUM TYPE: 001b data medium,
		 * 010b cleaning medium. */
		d[9] = e->cleaning ? MEDIUM_TYPE_CLEANING : MEDIUM_TYPE_DATA;
		if (e->svalid) {
			d[9] |= SVALID;
			put_be16(d + 10, e->source);
		}
	}
	uint8_t *p = d + DESC_BASE;
	if (voltag) {
		/* Primary volume tag: the barcode, space padded; all zeros
		 * for an empty element. */
		if (e->full)
			spc_pad_ascii(p, e->barcode, VOLTAG_ID_LEN);
		p += VOLTAG_LEN;
	}
	if (dvcid && e->type == SMC_ET_DRIVE) {
		p[0] = CODE_SET_ASCII;
		p[1] = 0; /* vendor specific: the unit serial number */
		p[3] = DVCID_LEN;
		spc_pad_ascii(p + ID_HDR, e->dvcid, DVCID_LEN);
	}
}

/* SMC-3 volume identification template: '*' matches any run of
 * characters, '?' any one; trailing blanks of both are not significant.
 * Iterative, remembering only the last '*': at most template x tag steps,
 * whatever an initiator sends (a recursive match is exponential in the
 * number of '*'). */
static bool tag_matches(const char *p, const char *s)
{
	const char *star = NULL, *retry = NULL;
	while (*s) {
		if (*p == '*') {
			star = p++;
			retry = s;
		} else if (*p && (*p == '?' || *p == *s)) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++retry;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return !*p;
}

/* Is element e in a report of type/start, and (with s) does its primary
 * volume tag match the translate? */
static bool selected(const struct smc_element *e, uint8_t type, uint32_t start,
		     const struct smc_search *s)
{
	if ((type && e->type != type) || e->addr < start)
		return false;
	if (!s)
		return true;
	if (s->match_nothing || !e->full || !e->barcode[0])
		return false;
	if (s->type && e->type != s->type)
		return false;
	return tag_matches(s->tmpl, e->barcode);
}

/*
 * The element status data of READ ELEMENT STATUS and REQUEST VOLUME
 * ELEMENT ADDRESS (SMC-3: the same pages after an 8-byte header whose byte
 * 4 is reserved in one and the send action code in the other): at most
 * count elements selected(), in address order, one page per run of a
 * type. Sets *n to the elements reported; the caller has the inventory.
 */
static uint8_t *element_report(struct smc_changer *ch, uint8_t type, uint32_t start, uint16_t count,
			       bool voltag, bool dvcid, const struct smc_search *s, uint8_t byte4,
			       size_t *len, size_t *n_out)
{
	size_t first = ch->n_elements, n = 0;
	for (size_t i = 0; i < ch->n_elements && n < count; i++) {
		if (!selected(&ch->scratch[i], type, start, s))
			continue;
		if (first == ch->n_elements)
			first = i;
		n++;
	}
	size_t cap = STATUS_HDR + n * (PAGE_HDR + desc_len(SMC_ET_DRIVE, true, true));
	uint8_t *buf = calloc(1, cap);
	if (!buf)
		return NULL;
	size_t off = STATUS_HDR, taken = 0;
	uint8_t *page = NULL;
	uint8_t page_type = 0;
	for (size_t i = first; taken < n && i < ch->n_elements; i++) {
		const struct smc_element *e = &ch->scratch[i];
		if (!selected(e, type, start, s))
			continue;
		uint16_t dl = desc_len(e->type, voltag, dvcid);
		if (!page || e->type != page_type) {
			/* A new element status page for each run of one type. */
			page = buf + off;
			page_type = e->type;
			page[0] = e->type;
			page[1] = voltag ? PVOLTAG : 0;
			put_be16(page + 2, dl);
			off += PAGE_HDR;
		}
		fill_descriptor(ch, e, buf + off, voltag, dvcid);
		off += dl;
		put_be24(page + 5, (uint32_t)(buf + off - page - PAGE_HDR));
		taken++;
	}
	if (n)
		put_be16(buf, ch->scratch[first].addr);
	put_be16(buf + 2, (uint16_t)n);
	buf[4] = byte4;
	/* The byte count of the whole report, even when the allocation
	 * length truncates it, so the initiator can ask again. */
	put_be24(buf + 5, (uint32_t)(off - STATUS_HDR));
	*len = off;
	*n_out = n;
	return buf;
}

static void smc_read_element_status(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct smc_changer *ch = changer(dev);
	const uint8_t *cdb = cmd->cdb;
	bool voltag = cdb[1] & 0x10;
	uint8_t type = cdb[1] & 0x0f;
	uint16_t start = get_be16(cdb + 2);
	uint16_t count = get_be16(cdb + 4);
	bool dvcid = cdb[6] & 0x01;
	uint32_t alloc = get_be24(cdb + 7);

	if (type > SMC_ET_DRIVE) {
		sense_invalid_cdb(cmd, 1, 3);
		return;
	}
	if (!inventory_or_fail(ch, cmd))
		return;
	size_t len, n;
	uint8_t *buf = element_report(ch, type, start, count, voltag, dvcid, NULL, 0, &len, &n);
	if (!buf) {
		sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
		return;
	}
	/* Elements of the type at or above the starting address (SMC-3):
	 * none at all is an address beyond the last one. */
	if (count && n == 0)
		invalid_element(cmd, 2);
	else
		spc_respond(cmd, buf, (uint32_t)len, alloc);
	free(buf);
}

/* ---- SEND VOLUME TAG and REQUEST VOLUME ELEMENT ADDRESS (SMC-3) ------ */

enum {
	SVT_PARAM_LEN = 40, /* template 32, reserved 2, min seq 2, reserved 2, max seq 2 */
	SVT_TRANSLATE_ALL = 0x00,
	SVT_TRANSLATE_PRIMARY = 0x01,
	SVT_TRANSLATE_ALTERNATE = 0x02,
	SVT_TRANSLATE_ALL_NOSEQ = 0x04,
	SVT_TRANSLATE_PRIMARY_NOSEQ = 0x05,
	SVT_TRANSLATE_ALTERNATE_NOSEQ = 0x06,
};

/*
 * SEND VOLUME TAG: the translate actions (00h-06h) set up a search that
 * REQUEST VOLUME ELEMENT ADDRESS reports. Cartridges here carry one
 * (primary) volume tag, the barcode, with volume sequence number 0, so an
 * alternate translate matches nothing and a translate that checks
 * sequence numbers matches only when 0 is in the range. The assert,
 * replace and undefine actions (08h-0Dh) would rename a cartridge, whose
 * barcode is its identity in the catalog and the object store: refused at
 * the field, as libraries that offer only translate do (IBM TS4500, Dell
 * TL2000 and Oracle SL150 references: send action code 05h).
 */
static void smc_send_volume_tag(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct smc_changer *ch = changer(dev);
	const uint8_t *cdb = cmd->cdb;
	uint8_t type = cdb[1] & 0x0f;
	uint16_t start = get_be16(cdb + 2);
	uint8_t action = cdb[5] & 0x1f;
	uint16_t plen = get_be16(cdb + 8);

	if (type > SMC_ET_DRIVE) {
		sense_invalid_cdb(cmd, 1, 3);
		return;
	}
	if (action > SVT_TRANSLATE_ALTERNATE_NOSEQ || action == 0x03) {
		sense_invalid_cdb(cmd, 5, 4);
		return;
	}
	if (plen != SVT_PARAM_LEN) {
		sense_invalid_cdb(cmd, 8, -1);
		return;
	}
	if (cmd->out_len < SVT_PARAM_LEN) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_PARAMETER_LIST_LENGTH_ERROR);
		return;
	}
	const uint8_t *p = cmd->out;
	struct smc_search s;
	memset(&s, 0, sizeof(s));
	size_t tl = VOLTAG_ID_LEN;
	while (tl && (p[tl - 1] == ' ' || p[tl - 1] == 0))
		tl--;
	for (size_t i = 0; i < tl; i++) {
		/* Volume identifiers are graphic ASCII (SMC-3). */
		if (p[i] < 0x21 || p[i] > 0x7e) {
			sense_set_field(cmd, ASC_INVALID_FIELD_IN_PARAMETER_LIST, false,
					(uint16_t)i, -1);
			return;
		}
		s.tmpl[i] = (char)p[i];
	}
	uint16_t min_seq = get_be16(p + 34), max_seq = get_be16(p + 38);
	bool check_seq = action <= SVT_TRANSLATE_ALTERNATE;
	if (check_seq && min_seq > max_seq) {
		sense_set_field(cmd, ASC_INVALID_FIELD_IN_PARAMETER_LIST, false, 34, -1);
		return;
	}
	s.valid = true;
	s.nexus = cmd->nexus;
	s.action = action;
	s.type = type;
	s.next_addr = start;
	s.match_nothing = action == SVT_TRANSLATE_ALTERNATE ||
			  action == SVT_TRANSLATE_ALTERNATE_NOSEQ || (check_seq && min_seq > 0);
	ch->search = s;
}

/*
 * REQUEST VOLUME ELEMENT ADDRESS: the elements whose volume tag matched
 * the nexus's last SEND VOLUME TAG, in READ ELEMENT STATUS's pages after
 * the volume element address header (SMC-3; byte 4 the send action code).
 * Each report starts at the CDB's address, but never below what an
 * earlier report of the same search showed, so repeated commands walk the
 * matches ("once an element has been reported, only higher addresses",
 * Dell TL2000/TL4000 SCSI reference). Without a search from this nexus:
 * ILLEGAL REQUEST, COMMAND SEQUENCE ERROR.
 */
static void smc_request_volume_element_address(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct smc_changer *ch = changer(dev);
	const uint8_t *cdb = cmd->cdb;
	bool voltag = cdb[1] & 0x10;
	uint8_t type = cdb[1] & 0x0f;
	uint16_t start = get_be16(cdb + 2);
	uint16_t count = get_be16(cdb + 4);
	uint32_t alloc = get_be24(cdb + 7);

	if (type > SMC_ET_DRIVE) {
		sense_invalid_cdb(cmd, 1, 3);
		return;
	}
	struct smc_search *s = &ch->search;
	if (!s->valid || s->nexus != cmd->nexus) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_COMMAND_SEQUENCE_ERROR);
		return;
	}
	if (!inventory_or_fail(ch, cmd))
		return;
	uint32_t from = start > s->next_addr ? start : s->next_addr;
	size_t len, n;
	uint8_t *buf = element_report(ch, type, from, count, voltag, false, s, s->action, &len, &n);
	if (!buf) {
		sense_set(cmd, SK_HARDWARE_ERROR, ASC_SYSTEM_RESOURCE_FAILURE);
		return;
	}
	/* What the allocation length lets through counts as reported. */
	uint32_t sent = alloc < len ? alloc : (uint32_t)len;
	for (size_t off = STATUS_HDR; off + PAGE_HDR <= sent;) {
		uint16_t dl = get_be16(buf + off + 2);
		uint32_t bytes = get_be24(buf + off + 5);
		size_t d = off + PAGE_HDR;
		for (; dl && d + dl <= off + PAGE_HDR + bytes && d + dl <= sent; d += dl)
			s->next_addr = (uint32_t)get_be16(buf + d) + 1;
		off += PAGE_HDR + bytes;
	}
	spc_respond(cmd, buf, (uint32_t)len, alloc);
	free(buf);
}

/* ---- MOVE MEDIUM (SMC-3) and POSITION TO ELEMENT (6.11) ------------ */

static bool check_transport(struct scsi_dev *dev, struct scsi_cmd *cmd, uint16_t byte)
{
	uint16_t t = get_be16(cmd->cdb + byte);
	/* Zero is the default transport (SMC-3). */
	if (t != 0 && smc_element_type_of(dev, t) != SMC_ET_TRANSPORT) {
		invalid_element(cmd, byte);
		return false;
	}
	return true;
}

/* A valid source or destination of a move: any element but the transport. */
static bool check_location(struct scsi_dev *dev, struct scsi_cmd *cmd, uint16_t byte)
{
	int t = smc_element_type_of(dev, get_be16(cmd->cdb + byte));
	if (t < 0 || t == SMC_ET_TRANSPORT) {
		invalid_element(cmd, byte);
		return false;
	}
	return true;
}

static void do_move(struct scsi_dev *dev, struct scsi_cmd *cmd, uint16_t src, uint16_t dst)
{
	struct smc_changer *ch = changer(dev);
	if (!inventory_or_fail(ch, cmd))
		return;
	struct smc_element *s = find(ch, src), *d = find(ch, dst);
	struct smc_refusal why = {SK_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE};
	if (!s->full) {
		why = (struct smc_refusal){SK_ILLEGAL_REQUEST, ASC_MEDIUM_SOURCE_ELEMENT_EMPTY};
	} else if (src == dst) {
		return; /* already there */
	} else if (d->full) {
		why = (struct smc_refusal){SK_ILLEGAL_REQUEST, ASC_MEDIUM_DESTINATION_ELEMENT_FULL};
	} else if (ch->ie_open && (s->type == SMC_ET_IE || d->type == SMC_ET_IE)) {
		why = (struct smc_refusal){SK_ILLEGAL_REQUEST, ASC_MEDIUM_MAGAZINE_NOT_ACCESSIBLE};
	} else if (ch->cfg.backend.move(ch->cfg.backend.ctx, src, dst, &why) == 0) {
		return;
	}
	/* A move the library's state does not allow: TapeAlert 19h,
	 * Library Illegal Operation (SMC-3 TapeAlert annex). */
	if (why.key == SK_ILLEGAL_REQUEST)
		tapealert_raise(&ch->tapealert, TA_LIB_ILLEGAL_OPERATION);
	sense_set(cmd, why.key, why.asc_ascq);
}

static void smc_move_medium(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	if (!check_transport(dev, cmd, 2) || !check_location(dev, cmd, 4) ||
	    !check_location(dev, cmd, 6))
		return;
	do_move(dev, cmd, get_be16(cmd->cdb + 4), get_be16(cmd->cdb + 6));
}

/*
 * EXCHANGE MEDIUM (SMC-3): the medium at the source goes to the first
 * destination, and the one that was there to the second destination, which
 * may be the source itself (a swap). Done as moves through the backend, each
 * its own catalog transaction; a swap parks the first cartridge in the
 * picker (the transport element), so at every instant each cartridge is in
 * exactly one element. If a later move fails, the earlier ones are undone.
 */
static void smc_exchange_medium(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct smc_changer *ch = changer(dev);
	const struct smc_layout *l = &ch->cfg.layout;
	if (!check_transport(dev, cmd, 2) || !check_location(dev, cmd, 4) ||
	    !check_location(dev, cmd, 6) || !check_location(dev, cmd, 8))
		return;
	uint16_t src = get_be16(cmd->cdb + 4), d1 = get_be16(cmd->cdb + 6);
	uint16_t d2 = get_be16(cmd->cdb + 8);
	if (!inventory_or_fail(ch, cmd))
		return;
	struct smc_element *s = find(ch, src), *e1 = find(ch, d1), *e2 = find(ch, d2);
	if (!s->full || !e1->full || src == d1) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_MEDIUM_SOURCE_ELEMENT_EMPTY);
		return;
	}
	if (d2 != src && e2->full) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_MEDIUM_DESTINATION_ELEMENT_FULL);
		return;
	}
	if (ch->ie_open &&
	    (s->type == SMC_ET_IE || e1->type == SMC_ET_IE || e2->type == SMC_ET_IE)) {
		sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_MEDIUM_MAGAZINE_NOT_ACCESSIBLE);
		return;
	}
	const struct smc_backend *be = &ch->cfg.backend;
	struct smc_refusal why = {SK_HARDWARE_ERROR, ASC_INTERNAL_TARGET_FAILURE}, ignore;
	if (d2 != src) {
		if (be->move(be->ctx, d1, d2, &why))
			goto fail;
		if (be->move(be->ctx, src, d1, &why)) {
			be->move(be->ctx, d2, d1, &ignore);
			goto fail;
		}
		return;
	}
	if (l->count[SMC_ET_TRANSPORT] == 0)
		goto fail;
	uint16_t picker = l->base[SMC_ET_TRANSPORT];
	if (be->move(be->ctx, src, picker, &why))
		goto fail;
	if (be->move(be->ctx, d1, src, &why)) {
		be->move(be->ctx, picker, src, &ignore);
		goto fail;
	}
	if (be->move(be->ctx, picker, d1, &why)) {
		be->move(be->ctx, src, d1, &ignore);
		be->move(be->ctx, picker, src, &ignore);
		goto fail;
	}
	return;
fail:
	sense_set(cmd, why.key, why.asc_ascq);
}

static void smc_position_to_element(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	/* Nothing to move: a virtual picker is everywhere at once. */
	if (!check_transport(dev, cmd, 2) || !check_location(dev, cmd, 4))
		return;
}

/* ---- INITIALIZE ELEMENT STATUS, and WITH RANGE (0x37; 0xE7 as vendors) -- */

static void smc_initialize_element_status(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	/* The inventory is the catalog's and always current: nothing to
	 * scan, but the backend must be able to produce it. */
	inventory_or_fail(changer(dev), cmd);
}

static void smc_initialize_element_status_range(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	const uint8_t *cdb = cmd->cdb;
	if (cdb[1] & 0x01) { /* RANGE: the starting address must be an element */
		uint16_t start = get_be16(cdb + 2);
		if (smc_element_type_of(dev, start) < 0) {
			invalid_element(cmd, 2);
			return;
		}
	}
	inventory_or_fail(changer(dev), cmd);
}

/* ---- OPEN/CLOSE IMPORT/EXPORT ELEMENT (SMC-3) ----------------------- */

static void smc_open_close_ie(struct scsi_dev *dev, struct scsi_cmd *cmd)
{
	struct smc_changer *ch = changer(dev);
	uint16_t addr = get_be16(cmd->cdb + 2);
	uint8_t action = cmd->cdb[4] & 0x1f;

	if (smc_element_type_of(dev, addr) != SMC_ET_IE) {
		invalid_element(cmd, 2);
		return;
	}
	switch (action) {
	case IE_ACTION_OPEN:
		/* SMC-3: PREVENT MEDIUM REMOVAL keeps the port shut. */
		if (dev->prevent_removal) {
			sense_set(cmd, SK_ILLEGAL_REQUEST, ASC_MEDIUM_REMOVAL_PREVENTED);
			return;
		}
		ch->ie_open = true;
		break;
	case IE_ACTION_CLOSE:
		if (ch->ie_open) {
			ch->ie_open = false;
			/* The operator may have changed what the port holds. */
			spc_ua_raise_others(dev, cmd->nexus, ASC_IMPORT_OR_EXPORT_ELEMENT_ACCESSED);
		}
		break;
	default:
		sense_invalid_cdb(cmd, 4, 4);
		return;
	}
}

/* ---- Mode pages (SMC-3) --------------------------------------------- */

enum {
	MP_ELEMENT_ADDRESS = 0x1d,
	MP_TRANSPORT_GEOMETRY = 0x1e,
	MP_DEVICE_CAPABILITIES = 0x1f,
	MP_EAA_LEN = 20,
	MP_TG_LEN = 4, /* one transport */
	MP_DC_LEN = 20,
};

static void mp_element_address(struct scsi_dev *dev, int pc, uint8_t *p)
{
	const struct smc_layout *l = &changer(dev)->cfg.layout;
	memset(p, 0, MP_EAA_LEN);
	p[0] = MP_ELEMENT_ADDRESS;
	p[1] = MP_EAA_LEN - 2;
	if (pc == MODE_PC_CHANGEABLE)
		return;
	for (int t = SMC_ET_TRANSPORT; t <= SMC_ET_DRIVE; t++) {
		put_be16(p + 2 + (t - 1) * 4, l->base[t]);
		put_be16(p + 4 + (t - 1) * 4, l->count[t]);
	}
}

static void mp_transport_geometry(struct scsi_dev *dev, int pc, uint8_t *p)
{
	(void)dev;
	memset(p, 0, MP_TG_LEN);
	p[0] = MP_TRANSPORT_GEOMETRY;
	p[1] = MP_TG_LEN - 2;
	/* ROTATE 0: LTO cartridges have one side; member number 0. */
	(void)pc;
}

static void mp_device_capabilities(struct scsi_dev *dev, int pc, uint8_t *p)
{
	(void)dev;
	memset(p, 0, MP_DC_LEN);
	p[0] = MP_DEVICE_CAPABILITIES;
	p[1] = MP_DC_LEN - 2;
	if (pc == MODE_PC_CHANGEABLE)
		return;
	/* Byte 2: STORDT, STORI/E, STORST (the transport stores nothing). */
	p[2] = 0x08 | 0x04 | 0x02;
	/* Bytes 4..7: moves from MT, ST, I/E, DT to {DT, I/E, ST, MT}:
	 * every element that can hold a cartridge reaches every other. */
	p[5] = 0x0e;
	p[6] = 0x0e;
	p[7] = 0x0e;
	/* Bytes 12..15: exchange capabilities, the same. */
	p[13] = 0x0e;
	p[14] = 0x0e;
	p[15] = 0x0e;
}

/* Nothing in these pages is changeable; a MODE SELECT that sends them
 * back unchanged is accepted (the framework rejects any change). */
static int mp_select_none(struct scsi_dev *dev, struct scsi_cmd *cmd, const uint8_t *page,
			  uint16_t offset)
{
	(void)dev;
	(void)cmd;
	(void)page;
	(void)offset;
	return 0;
}

static const struct spc_mode_page smc_mode_pages[] = {
    {MP_ELEMENT_ADDRESS, 0, MP_EAA_LEN, mp_element_address, mp_select_none},
    {MP_TRANSPORT_GEOMETRY, 0, MP_TG_LEN, mp_transport_geometry, mp_select_none},
    {MP_DEVICE_CAPABILITIES, 0, MP_DC_LEN, mp_device_capabilities, mp_select_none},
};

/* ---- TapeAlert (SMC-3 annex; log page 2Eh, flags 01h-20h) ---------- */

enum { SMC_TA_FLAGS = 0x20 };

static uint32_t lp_tapealert(struct scsi_dev *dev, uint8_t *buf, uint32_t cap)
{
	return tapealert_log_page(&changer(dev)->tapealert, SMC_TA_FLAGS, buf, cap);
}

static void lp_tapealert_reset(struct scsi_dev *dev)
{
	changer(dev)->tapealert = 0;
}

static const struct spc_log_page smc_log_pages[] = {
    {0x2e, 0, lp_tapealert, lp_tapealert_reset},
};

static int smc_tapealert_test(struct scsi_dev *dev, int32_t number)
{
	const uint64_t supported =
	    (1ull << (TA_LIB_INVENTORY - 1)) | (1ull << (TA_LIB_ILLEGAL_OPERATION - 1));
	return tapealert_test(&changer(dev)->tapealert, supported, SMC_TA_FLAGS, number);
}

static uint64_t smc_ie_flags(struct scsi_dev *dev)
{
	return changer(dev)->tapealert;
}

static uint8_t smc_mode_dev_specific(struct scsi_dev *dev)
{
	(void)dev;
	return 0;
}

static bool smc_mode_block_desc(struct scsi_dev *dev, uint8_t bd[8])
{
	(void)dev;
	(void)bd;
	return false; /* a changer has no block descriptor (SMC-3) */
}

/* ---- The command table -------------------------------------------------- */

/* CDB usage masks (SPC-4 6.35.3): a bit set in the CDB outside its mask is
 * INVALID FIELD IN CDB. INVERT bits are left out: the virtual cartridges
 * have one side, so asking to invert is refused at the field. */
#define CTL SPC_CTL

static const struct scsi_op smc_ops[] = {
    /* Own row: the changer needs no cartridge to be ready (no OPF_MEDIUM). */
    {TEST_UNIT_READY,
     0,
     6,
     OPF_NOT_READY_OK,
     {TEST_UNIT_READY, 0, 0, 0, 0, CTL},
     spc_test_unit_ready,
     "TEST UNIT READY"},
    SPC_OP_REQUEST_SENSE,
    {INITIALIZE_ELEMENT_STATUS,
     0,
     6,
     0,
     {INITIALIZE_ELEMENT_STATUS, 0, 0, 0, 0, CTL},
     smc_initialize_element_status,
     "INITIALIZE ELEMENT STATUS"},
    SPC_OP_INQUIRY,
    SPC_OP_MODE_SELECT_6,
    SPC_OP_RESERVE_6,
    SPC_OP_RELEASE_6,
    SPC_OP_MODE_SENSE_6,
    {OPEN_CLOSE_IMPORT_EXPORT_ELEMENT,
     0,
     6,
     0,
     {OPEN_CLOSE_IMPORT_EXPORT_ELEMENT, 0, 0xff, 0xff, 0x1f, CTL},
     smc_open_close_ie,
     "OPEN/CLOSE IMPORT/EXPORT ELEMENT"},
    /* Own row: the mask admits self-test code, PF, a parameter list length. */
    {SEND_DIAGNOSTIC,
     0,
     6,
     OPF_DATA_OUT,
     {SEND_DIAGNOSTIC, 0xf7, 0, 0xff, 0xff, CTL},
     spc_send_diagnostic,
     "SEND DIAGNOSTIC"},
    SPC_OP_PREVENT_ALLOW,
    {POSITION_TO_ELEMENT,
     0,
     10,
     0,
     {POSITION_TO_ELEMENT, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, CTL},
     smc_position_to_element,
     "POSITION TO ELEMENT"},
    SPC_OPS_SHARED,
    {MOVE_MEDIUM,
     0,
     12,
     0,
     {MOVE_MEDIUM, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, CTL},
     smc_move_medium,
     "MOVE MEDIUM"},
    {EXCHANGE_MEDIUM,
     0,
     12,
     0,
     {EXCHANGE_MEDIUM, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, CTL},
     smc_exchange_medium,
     "EXCHANGE MEDIUM"},
    {REQUEST_VOLUME_ELEMENT_ADDRESS,
     0,
     12,
     OPF_DATA_IN,
     {REQUEST_VOLUME_ELEMENT_ADDRESS, 0x1f, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0, CTL},
     smc_request_volume_element_address,
     "REQUEST VOLUME ELEMENT ADDRESS"},
    {SEND_VOLUME_TAG,
     0,
     12,
     OPF_DATA_OUT,
     {SEND_VOLUME_TAG, 0x0f, 0xff, 0xff, 0, 0x1f, 0, 0, 0xff, 0xff, 0, CTL},
     smc_send_volume_tag,
     "SEND VOLUME TAG"},
    {READ_ELEMENT_STATUS,
     0,
     12,
     OPF_DATA_IN,
     {READ_ELEMENT_STATUS, 0x1f, 0xff, 0xff, 0xff, 0xff, 0x03, 0xff, 0xff, 0xff, 0, CTL},
     smc_read_element_status,
     "READ ELEMENT STATUS"},
    {INITIALIZE_ELEMENT_STATUS_WITH_RANGE,
     0,
     10,
     0,
     {INITIALIZE_ELEMENT_STATUS_WITH_RANGE, 0x03, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, CTL},
     smc_initialize_element_status_range,
     "INITIALIZE ELEMENT STATUS WITH RANGE"},
    {INITIALIZE_ELEMENT_STATUS_WITH_RANGE_STD,
     0,
     10,
     0,
     {INITIALIZE_ELEMENT_STATUS_WITH_RANGE_STD, 0x03, 0xff, 0xff, 0, 0, 0xff, 0xff, 0, CTL},
     smc_initialize_element_status_range,
     "INITIALIZE ELEMENT STATUS WITH RANGE (SMC-3 opcode)"},
};

static const struct scsi_dev_type smc_type = {
    .peripheral_type = SCSI_TYPE_CHANGER,
    .ops = smc_ops,
    .n_ops = sizeof(smc_ops) / sizeof(smc_ops[0]),
    .mode = NULL, /* set up per changer below: the table needs the control page */
    .n_mode = 0,
    .not_ready = NULL,
    .mode_dev_specific = smc_mode_dev_specific,
    .mode_block_desc = smc_mode_block_desc,
    .mode_select_header = NULL,
    .log = smc_log_pages,
    .n_log = sizeof(smc_log_pages) / sizeof(smc_log_pages[0]),
    .tapealert_test = smc_tapealert_test,
    .ie_flags = smc_ie_flags,
};

/* The mode page table: the SMC-3 pages plus SPC-4's control page. Built
 * once at first init because spc_control_mode_page is an extern object, not
 * a constant expression. */
static struct spc_mode_page all_mode_pages[5];
static struct scsi_dev_type smc_type_full;
static pthread_once_t type_once = PTHREAD_ONCE_INIT;

static void build_type(void)
{
	all_mode_pages[0] = spc_control_mode_page;
	all_mode_pages[1] = spc_informational_exceptions_mode_page; /* TapeAlert control */
	memcpy(all_mode_pages + 2, smc_mode_pages, sizeof(smc_mode_pages));
	smc_type_full = smc_type;
	smc_type_full.mode = all_mode_pages;
	smc_type_full.n_mode = 5;
}

int smc_changer_init(struct scsi_dev *dev, const struct smc_config *cfg)
{
	if (!cfg->backend.inventory || !cfg->backend.move)
		return -EINVAL;
	/* Ranges must not overlap (SMC-3). */
	for (int a = 1; a <= 4; a++) {
		for (int b = a + 1; b <= 4; b++) {
			uint32_t a0 = cfg->layout.base[a], a1 = a0 + cfg->layout.count[a];
			uint32_t b0 = cfg->layout.base[b], b1 = b0 + cfg->layout.count[b];
			if (a1 > 0x10000 || b1 > 0x10000 || (a0 < b1 && b0 < a1))
				return -EINVAL;
		}
	}
	pthread_once(&type_once, build_type);
	struct smc_changer *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->cfg = *cfg;
	for (int t = 1; t <= 4; t++)
		ch->n_elements += cfg->layout.count[t];
	ch->scratch = calloc(ch->n_elements ? ch->n_elements : 1, sizeof(*ch->scratch));
	if (!ch->scratch) {
		free(ch);
		return -ENOMEM;
	}
	/* Address order, which is what READ ELEMENT STATUS walks. */
	size_t k = 0;
	for (uint32_t addr = 0; addr <= 0xffff && k < ch->n_elements; addr++) {
		for (int t = 1; t <= 4; t++) {
			if (addr >= cfg->layout.base[t] &&
			    addr < (uint32_t)cfg->layout.base[t] + cfg->layout.count[t]) {
				ch->scratch[k].addr = (uint16_t)addr;
				ch->scratch[k].type = (uint8_t)t;
				k++;
			}
		}
	}
	int rc = spc_dev_init(dev, &smc_type_full);
	if (rc) {
		free(ch->scratch);
		free(ch);
		return rc;
	}
	dev->priv = ch;
	return 0;
}

void smc_changer_destroy(struct scsi_dev *dev)
{
	struct smc_changer *ch = changer(dev);
	if (ch) {
		free(ch->scratch);
		free(ch);
	}
	dev->priv = NULL;
	spc_dev_destroy(dev);
}
