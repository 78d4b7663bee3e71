/*
 * bench_events: the synthetic event both sides of bench/run-events use,
 * as the BSON document dbaudit stores (raw_insert) and as the JSON an
 * ingest client sends (gen_events). Type i % 12, severity from the type
 * (every fifth event critical), timestamps one second apart.
 */
#ifndef DBAUDIT_BENCH_EVENTS_H
#define DBAUDIT_BENCH_EVENTS_H

#include <stdio.h>

static const char *const bench_types[12][2] = {
	{ "database.query", "info" }, { "database.connection", "info" },
	{ "database.disconnect", "info" }, { "security.threat_detected", "critical" },
	{ "security.anomaly", "warning" }, { "security.privilege_escalation", "critical" },
	{ "policy.violation", "warning" }, { "policy.match", "info" },
	{ "data.sensitive_access", "warning" }, { "data.export", "warning" },
	{ "user.login_failed", "warning" }, { "user.login_success", "info" },
};

static inline const char *bench_severity(int i)
{
	return i % 5 == 0 ? "critical" : bench_types[i % 12][1];
}

#define BENCH_T0 1735689600000LL /* 2025-01-01T00:00:00Z */

#ifdef BSON_MAJOR_VERSION
static inline void bench_event_bson(bson_t *d, const char *tenant, int i, long long seq)
{
	char id[32], ip[32], q[96], sess[32];

	snprintf(id, sizeof(id), "evt_%08x%08x%08x", (unsigned)rand(), (unsigned)rand(), (unsigned)i);
	snprintf(ip, sizeof(ip), "10.0.%d.%d", (i / 250) % 250, i % 250);
	snprintf(q, sizeof(q), "SELECT * FROM users WHERE id = %d", i);
	snprintf(sess, sizeof(sess), "sess_%d", i / 20);
	BSON_APPEND_UTF8(d, "_id", id);
	BSON_APPEND_INT64(d, "seq", seq);
	BSON_APPEND_UTF8(d, "xid", id);
	BSON_APPEND_UTF8(d, "tenant_id", tenant);
	BSON_APPEND_UTF8(d, "type", bench_types[i % 12][0]);
	BSON_APPEND_UTF8(d, "severity", bench_severity(i));
	BSON_APPEND_DATE_TIME(d, "timestamp", BENCH_T0 + (long long)i * 1000);
	BSON_APPEND_DATE_TIME(d, "processed_at", BENCH_T0);
	{
		bson_t det;

		BSON_APPEND_DOCUMENT_BEGIN(d, "details", &det);
		BSON_APPEND_UTF8(&det, "user", "app_user");
		BSON_APPEND_UTF8(&det, "source_ip", ip);
		BSON_APPEND_UTF8(&det, "query", q);
		BSON_APPEND_UTF8(&det, "session_id", sess);
		bson_append_document_end(d, &det);
	}
	BSON_APPEND_UTF8(d, "aid", "SL");
	BSON_APPEND_BOOL(d, "ok", true);
}
#endif

/* The JSON of event i as a client sends it (no trailing newline). */
static inline void bench_event_json(FILE *f, int i)
{
	long long ms = BENCH_T0 + (long long)i * 1000;
	long long s = ms / 1000;
	int days = (int)(s / 86400), sec = (int)(s % 86400);

	/* days since 2025-01-01 stay within 2025 for the sizes benchmarks use */
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int d = days - 20089, m = 0; /* 20089 = days from 1970 to 2025-01-01 */

	while (m < 11 && d >= mdays[m])
		d -= mdays[m++];
	fprintf(f, "{\"type\":\"%s\",\"severity\":\"%s\",\"timestamp\":\"2025-%02d-%02dT%02d:%02d:%02dZ\","
		"\"details\":{\"user\":\"app_user\",\"source_ip\":\"10.0.%d.%d\","
		"\"query\":\"SELECT * FROM users WHERE id = %d\",\"session_id\":\"sess_%d\"}}",
		bench_types[i % 12][0], bench_severity(i), m + 1, d + 1, sec / 3600, sec / 60 % 60,
		sec % 60, (i / 250) % 250, i % 250, i, i / 20);
}

#endif
