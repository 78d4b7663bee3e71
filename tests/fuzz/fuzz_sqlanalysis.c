/*
 * Fuzz target sqlanalysis: sqlanalysis_run and every stateless detector on
 * any bytes, the first byte choosing the dialect; then masks the masked
 * text again. It looks for crashes, undefined behaviour and leaks: masking
 * is not a fixed point on garbage (a '#' or '$' left by the first pass can
 * open a comment or a dollar quote on the second), so no equality is asserted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"
#include "sqlanalysis.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static json_t *sensitive;
	struct sql_analysis a;
	struct detect_input in = { "database.query", NULL, NULL, NULL, 0 };
	struct detect_hit hits[DETECT__COUNT];
	enum sql_dialect d;
	char *s, *again;

	if (size == 0)
		return 0;
	if (sensitive == NULL)
		sensitive = json_pack("[s, s, s]", "users", "hr.*.ssn", "*.card*");
	d = (enum sql_dialect)(data[0] % 5);
	s = malloc(size);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	memset(&a, 0, sizeof(a));
	if (sqlanalysis_run(s, d, SQLA_WANT_MASK, &a) == API_OK) {
		in.sql = &a;
		in.sensitive_objects = sensitive;
		detect_run(&in, hits, DETECT__COUNT);
		again = sqlanalysis_mask_tokens(a.masked, a.dialect);
		free(again);
	}
	sqlanalysis_cleanup(&a);
	free(s);
	return 0;
}
