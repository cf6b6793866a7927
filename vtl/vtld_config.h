/*
 * vtld_config.h - vtld's configuration: an INI file (libinih) with every key
 * documented in docs/library.md, then command-line overrides.
 */
#ifndef VTL_VTLD_CONFIG_H
#define VTL_VTLD_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "library.h"
#include "uploader.h"

enum vtl_log_level { VTL_LOG_ERROR, VTL_LOG_WARN, VTL_LOG_INFO, VTL_LOG_DEBUG };

#define VTL_MAX_ALLOW 32

struct vtl_config {
	struct lib_config lib;
	char listen[128];      /* iSCSI portal "ADDR:PORT" */
	char socket[PATH_MAX]; /* control socket; empty: DATA_DIR/vtld.sock */
	enum vtl_log_level log_level;
	/* iSCSI target. */
	char iqn[224]; /* empty: iqn.2026-11.<reversed host name>:vtl */
	char alias[256];
	char chap_user[256], chap_secret[256];
	char mutual_user[256], mutual_secret[256];
	char allow[VTL_MAX_ALLOW][224];
	size_t n_allow;
	/* -1: the iSCSI server's default. */
	int64_t nop_interval, nop_timeout, max_recv_data_segment, max_burst, first_burst;
	int64_t max_sessions, max_login_connections, max_login_connections_per_address;
	int64_t first_pdu_timeout, login_timeout;
	/* TCMU frontend (docs/tcmu.md): serve LIO backstores whose config
	 * string is "vtl/<tcmu_library>/<changer|driveN>". */
	bool tcmu_enable;
	char tcmu_library[64];
	/* [metrics] listen: the HTTP endpoint for Prometheus, /healthz and
	 * /readyz (vtl/metrics_http.h); "": none (the default). */
	char metrics_listen[128];
	/* [store]: the object store and its uploader (vtl/uploader.h). */
	struct store_config store;
	/* [encryption] (docs/design.md, "Encryption of cartridges at rest"):
	 * mode = library and where the master key, and during a rotation the
	 * previous one, come from: a private file or a command's output. */
	struct enc_config {
		bool library;
		char key_file[PATH_MAX], key_command[1024];
		char previous_file[PATH_MAX], previous_command[1024];
		unsigned key_timeout; /* seconds a command may take; 0: 30 */
	} enc;
};

void vtl_config_defaults(struct vtl_config *cfg);
/* Load path over the current values. Returns 0, or -EINVAL / -errno with
 * "FILE:LINE: what" in err. */
int vtl_config_load(const char *path, struct vtl_config *cfg, char *err, size_t errlen);
/* The default target name for this host: iqn.2026-11.<reversed host>:vtl. */
void vtl_default_iqn(char *buf, size_t cap);
const char *vtl_log_level_name(enum vtl_log_level l);

#endif
