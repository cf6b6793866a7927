/*
 * iscsi.h - the built-in iSCSI target (RFC 7143), the frontend that vtld
 * runs by default. It moves struct scsi_cmd between initiators and the
 * scsi/ devices and owns only what the transport owns: login and
 * negotiation, sessions, sequencing, REPORT LUNS and task management.
 *
 * vtld builds a server from its configuration, adds its targets with their
 * LUN maps, starts it (the server runs its own threads) and stops it at
 * shutdown.
 */
#ifndef VTL_ISCSI_H
#define VTL_ISCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scsi_dev;
struct iscsi_server;

struct iscsi_lun {
	uint64_t lun;
	struct scsi_dev *dev;
};

/* CHAP secrets: the initiator proves itself with user/secret; with
 * mutual_user set the target proves itself too. Empty user: no CHAP. */
struct iscsi_chap {
	char user[256];
	char secret[256];
	char mutual_user[256];
	char mutual_secret[256];
};

struct iscsi_target_config {
	char iqn[224];
	char alias[256];
	const struct iscsi_lun *luns; /* copied by iscsi_server_add_target */
	size_t n_luns;
	struct iscsi_chap chap;
	const char *const *allow; /* initiator IQNs allowed; NULL or empty: all */
	size_t n_allow;
};

/* Which digests (RFC 7143 13.1) the target accepts: ALLOW takes the
 * initiator's first preference, NONE refuses CRC32C, REQUIRE refuses None. */
enum iscsi_digest_policy {
	ISCSI_DIGEST_ALLOW = 0,
	ISCSI_DIGEST_NONE,
	ISCSI_DIGEST_REQUIRE,
};

struct iscsi_server_config {
	char listen[128];		/* "ADDR:PORT", "[v6]:PORT"; default 127.0.0.1:3260 */
	uint32_t nop_interval_s;	/* ping an idle initiator; 0 disables */
	uint32_t nop_timeout_s;		/* drop a connection whose ping went unanswered */
	uint32_t max_recv_data_segment; /* what the target accepts, default 262144 */
	uint32_t max_burst;
	uint32_t first_burst;
	uint32_t queue_depth;	      /* CmdSN window per session, default 32 */
	uint32_t max_outstanding_r2t; /* per task, default 4 */
	uint32_t max_cmd_data;	      /* largest data transfer of one command, default 16 MiB */
	uint16_t tpgt;		      /* target portal group tag, default 1 */
	enum iscsi_digest_policy header_digest, data_digest;
	struct iscsi_chap discovery_chap; /* empty user: discovery needs no CHAP */
	/* What a peer that has not logged in can hold (docs/iscsi.md,
	 * "Connections that have not logged in"); 0 takes the default. */
	uint32_t max_sessions;		     /* logged-in connections, default 1024 */
	uint32_t max_login_conns;	     /* still in login, all sources, default 128 */
	uint32_t max_login_conns_per_source; /* from one address (IPv6: one /64), default 16 */
	uint32_t first_pdu_timeout_s;	     /* first complete PDU header after accept, default 5 */
	uint32_t login_timeout_s;	     /* the whole login after accept, default 15 */
	/* Where the server reports session events and protocol errors (one
	 * line, no newline); NULL: silent. Called from server threads. */
	void (*log)(void *arg, const char *msg);
	void *log_arg;
};

void iscsi_server_config_defaults(struct iscsi_server_config *cfg);
int iscsi_server_create(const struct iscsi_server_config *cfg, struct iscsi_server **out);
int iscsi_server_add_target(struct iscsi_server *srv, const struct iscsi_target_config *tgt);
/* Bind and start serving in background threads. */
int iscsi_server_start(struct iscsi_server *srv);
/* The bound port (useful with port 0 in tests). */
uint16_t iscsi_server_port(const struct iscsi_server *srv);
/* Stop accepting, end every session (an Async Message first where possible),
 * join the threads. */
void iscsi_server_stop(struct iscsi_server *srv);
void iscsi_server_destroy(struct iscsi_server *srv);

#endif
