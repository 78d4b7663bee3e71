/*
 * dbprobe_oracle: no Oracle client library is packaged on this platform,
 * so the test stops at what the common part already proved: the listener's
 * address accepts TCP connections. It succeeds with a warning that says
 * exactly that; credentials and privileges are not verified.
 */
#include "dbprobe.h"

void dbprobe_oracle(const struct dbprobe_conn *c, struct dbprobe_result *r)
{
	(void)c;
	r->version[0] = '\0';
	dbprobe_warn(r, "No Oracle client library is packaged with dbaudit: only the network "
		     "reachability of the listener was checked. The credentials, the service "
		     "name and the privileges were not verified.");
}
