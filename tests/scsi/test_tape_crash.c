/*
 * test_tape_crash.c - the durability contract of tape.h, proven by killing
 * a writer with SIGKILL at random instants, a few hundred times, on one
 * cartridge.
 *
 * Each round a child process opens the cartridge, positions at a start
 * object chosen by the parent (usually EOD, sometimes the middle, which
 * discards the rest), and writes blocks of random sizes and filemarks
 * whose contents are a pure function of (round, object number), so the
 * parent can check every byte without a copy. It flushes at random points
 * and reports each completed tape_flush() through a pipe. The parent kills
 * it after a random delay, reopens the cartridge (running recovery) and
 * checks:
 *   - objects before the start are what earlier rounds left;
 *   - every object acknowledged by a completed flush reads back byte for
 *     byte, and so does every other object present: what is past the last
 *     flush may be missing, never different or out of order;
 *   - EOD follows the last complete record (a read there says EOD).
 * The state found becomes the expectation of the next round.
 *
 * A SIGKILL leaves the page cache intact, so this exercises the ordering
 * of our writes, commits and recovery; why the same ordering survives power
 * loss is argued in docs/medium-format.md.
 */
#include "config.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "scsi/tape.h"
#include "tape_util.h"

#define ROUNDS	     250
#define MAX_REC	     300000
#define MAX_OBJ	     200000
#define ROUND_OBJS   300	  /* a child writes at most this many */
#define TAPE_BUDGET  (12u << 20)  /* beyond, rounds overwrite early */
#define SEG_SIZE     (256u << 10) /* small segments: many seals */
#define MAX_DELAY_US 40000

enum msg_type { MSG_TRUNC = 1, MSG_FLUSH = 2, MSG_DONE = 3 };

struct msg {
	uint32_t type;
	uint32_t pad;
	uint64_t val; /* MSG_FLUSH: EOD made durable; MSG_TRUNC: the start */
};

/* What round `round` writes as object n. */
struct obj_desc {
	bool filemark;
	uint32_t len;
	bool compressible;
	uint64_t seed;
};

static struct obj_desc describe(uint32_t round, uint64_t n)
{
	uint64_t h = tu_mix((uint64_t)round << 40 ^ n);
	struct obj_desc d = {0};
	unsigned pick = (unsigned)(h % 100);

	d.seed = h;
	if ((h >> 8) % 12 == 0) {
		d.filemark = true;
		return d;
	}
	if (pick < 40)
		d.len = (uint32_t)((h >> 16) % 512 + 1);
	else if (pick < 90)
		d.len = (uint32_t)((h >> 16) % 65536 + 513);
	else
		d.len = (uint32_t)((h >> 16) % (MAX_REC - 65537) + 65537);
	d.compressible = (h >> 40) & 1;
	return d;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state = tu_mix(rng_state);
	return rng_state;
}

static void send_msg(int fd, uint32_t type, uint64_t val)
{
	struct msg m = {.type = type, .val = val};

	if (write(fd, &m, sizeof(m)) != (ssize_t)sizeof(m))
		_exit(40);
}

/* The child: never returns. Exit codes >= 10 are failures. */
static void writer(const char *dir, uint32_t round, uint64_t start, int fd)
{
	uint8_t *buf = malloc(MAX_REC);
	struct tape *t;

	if (!buf || tape_open(dir, &t) < 0)
		_exit(10);
	tape_set_segment_size(t, SEG_SIZE);
	tape_set_compression(t, (enum tape_compression)(round % 3));
	if (tape_locate(t, start) < 0)
		_exit(11);
	if (start < tape_eod(t)) {
		if (tape_write_filemarks(t, 0) < 0) /* discards, durably */
			_exit(12);
		send_msg(fd, MSG_TRUNC, start);
	}
	for (uint64_t n = start; n < start + ROUND_OBJS; n++) {
		struct obj_desc d = describe(round, n);

		if (d.filemark) {
			if (tape_write_filemarks(t, 1) < 0)
				_exit(13);
		} else {
			tu_fill(buf, d.len, d.seed, d.compressible);
			if (tape_write(t, buf, d.len) < 0)
				_exit(14);
		}
		if (tu_mix(d.seed) % 16 == 0) {
			if (tape_flush(t) < 0)
				_exit(15);
			send_msg(fd, MSG_FLUSH, n + 1);
		}
	}
	if (tape_flush(t) < 0)
		_exit(16);
	send_msg(fd, MSG_FLUSH, start + ROUND_OBJS);
	send_msg(fd, MSG_DONE, 0);
	for (;;)
		pause();
}

/* The cartridge as the parent expects it: the round that wrote each
 * object (so describe() gives its contents), and its EOD. */
static uint32_t *model;
static uint64_t model_eod;
static uint8_t *want, *got;

/* Does object n on t match what round `round` wrote there? Moves past it. */
static bool object_is(struct tape *t, uint32_t round, uint64_t n)
{
	struct obj_desc d = describe(round, n);
	enum tape_obj kind;
	uint32_t len;

	if (tape_read(t, got, MAX_REC, &len, &kind) < 0)
		return false;
	if (d.filemark)
		return kind == TAPE_FILEMARK;
	if (kind != TAPE_BLOCK || len != d.len)
		return false;
	tu_fill(want, d.len, d.seed, d.compressible);
	return memcmp(want, got, len) == 0;
}

static uint64_t model_bytes(void)
{
	uint64_t b = 0;

	for (uint64_t n = 0; n < model_eod; n++)
		b += describe(model[n], n).len;
	return b;
}

static uint64_t model_files(uint64_t upto)
{
	uint64_t f = 0;

	for (uint64_t n = 0; n < upto; n++)
		f += describe(model[n], n).filemark;
	return f;
}

/*
 * After the kill: check the cartridge against the round's possible
 * outcomes and adopt what was found as the new model.
 */
static void verify_round(const char *dir, uint32_t round, uint64_t start, bool trunc_acked,
			 bool flush_acked, uint64_t flushed)
{
	struct tape *t;
	enum tape_obj kind;
	uint64_t eod, n;
	uint32_t len;
	bool is_new = true;
	int r;

	r = tape_open(dir, &t);
	cr_assert_eq(r, 0, "round %u: reopen after kill: %s", round, strerror(-r));
	eod = tape_eod(t);

	/* Before the start: untouched by this round. */
	for (n = 0; n < start && n < eod; n++)
		cr_assert(object_is(t, model[n], n), "round %u: old object %llu differs", round,
			  (unsigned long long)n);
	cr_assert_geq(eod, start, "round %u: eod %llu before start %llu", round,
		      (unsigned long long)eod, (unsigned long long)start);

	/* From the start: this round's objects, in order... */
	for (n = start; n < eod && is_new; n++)
		is_new = object_is(t, round, n);
	if (!is_new) {
		/* ...or, if nothing of the round was acknowledged, the tape
		 * as it was (the discard never committed). */
		cr_assert(!trunc_acked && !flush_acked && start < model_eod,
			  "round %u: object %llu is neither this round's nor acceptable old data "
			  "(start %llu, eod %llu, flushed %llu)",
			  round, (unsigned long long)(n - 1), (unsigned long long)start,
			  (unsigned long long)eod, (unsigned long long)flushed);
		cr_assert_eq(eod, model_eod, "round %u: old tape with a new EOD", round);
		cr_assert_eq(tape_locate(t, start), 0);
		for (n = start; n < eod; n++)
			cr_assert(object_is(t, model[n], n), "round %u: old object %llu differs",
				  round, (unsigned long long)n);
	} else {
		if (flush_acked)
			cr_assert_geq(eod, flushed, "round %u: flushed up to %llu but EOD is %llu",
				      round, (unsigned long long)flushed, (unsigned long long)eod);
		for (n = start; n < eod; n++)
			model[n] = round;
		model_eod = eod;
	}

	/* EOD right after the last complete record. */
	cr_assert_eq(tape_locate(t, eod), 0);
	cr_assert_eq(tape_read(t, got, MAX_REC, &len, &kind), 0);
	cr_assert_eq(kind, TAPE_EOD, "round %u: no EOD after the last record", round);
	cr_assert_eq(tape_file(t), model_files(eod), "round %u: filemark count", round);
	cr_assert_eq(tape_close(t), 0);
}

static char tmp[64];

/* Runs even when an assertion ends the test: no scratch tape left behind. */
static void cleanup(void)
{
	if (tmp[0])
		tmpdir_remove(tmp);
	tmp[0] = '\0';
}

Test(tape_crash, sigkill_at_random_instants_loses_no_flushed_object, .timeout = 300,
     .fini = cleanup)
{
	struct tape_info info = tu_info(TAPE_LTO7, 0);
	char dir[512];
	unsigned killed_busy = 0, flushes = 0, overwrites = 0;
	const char *seed_env = getenv("VTL_CRASH_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0)
				 : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;

	tmpdir_make(tmp, sizeof(tmp), "tape");
	cr_log_info("crash test seed %llu (set VTL_CRASH_SEED to replay the choices)",
		    (unsigned long long)seed);
	rng_state = seed;
	snprintf(dir, sizeof(dir), "%s/tape", tmp);
	cr_assert_eq(tape_format(dir, &info), 0);
	model = calloc(MAX_OBJ, sizeof(*model));
	want = malloc(MAX_REC);
	got = malloc(MAX_REC);
	cr_assert(model && want && got);

	for (uint32_t round = 1; round <= ROUNDS; round++) {
		uint64_t start = model_eod, flushed = 0;
		bool trunc_acked = false, flush_acked = false, done = false;
		int p[2], status;
		struct msg m;
		pid_t pid;

		if (model_eod && model_bytes() > TAPE_BUDGET)
			start = rnd() % (model_eod / 3 + 1);
		else if (model_eod && rnd() % 10 < 3)
			start = rnd() % (model_eod + 1);
		overwrites += start < model_eod;
		cr_assert_lt(start + ROUND_OBJS, MAX_OBJ);

		cr_assert_eq(pipe(p), 0);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			close(p[0]);
			writer(dir, round, start, p[1]);
		}
		close(p[1]);
		usleep((useconds_t)(rnd() % MAX_DELAY_US));
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		while (read(p[0], &m, sizeof(m)) == (ssize_t)sizeof(m)) {
			if (m.type == MSG_TRUNC)
				trunc_acked = true;
			else if (m.type == MSG_FLUSH) {
				flush_acked = true;
				flushed = m.val;
				flushes++;
			} else if (m.type == MSG_DONE)
				done = true;
		}
		close(p[0]);
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			  "round %u: the writer failed on its own (status %#x)", round, status);
		killed_busy += !done;
		verify_round(dir, round, start, trunc_acked, flush_acked, flushed);
	}
	cr_log_info("%u rounds, %u writers killed mid-write, %u flushes acknowledged, "
		    "%u rounds overwrote the middle",
		    ROUNDS, killed_busy, flushes, overwrites);
	cr_assert_geq(killed_busy, 200, "too few kills landed while writing: %u", killed_busy);
	free(model);
	free(want);
	free(got);
}
