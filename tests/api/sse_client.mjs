// A real SSE client for the stream tests: the npm `eventsource` package
// (WHATWG EventSource; it reconnects by itself and sends Last-Event-ID).
// usage: node sse_client.mjs URL API_KEY
// Prints one JSON line per happening: {"open":true} on each (re)connect,
// {"id","type","data"} per event, {"error":...} when the connection drops.
import { EventSource } from 'eventsource';

const TYPES = [
  'database.query', 'database.connection', 'database.disconnect', 'security.threat_detected',
  'security.anomaly', 'security.privilege_escalation', 'policy.violation', 'policy.match',
  'data.sensitive_access', 'data.export', 'user.login_failed', 'user.login_success',
];
const [url, key] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const es = new EventSource(url, {
  fetch: (input, init) => fetch(input, { ...init, headers: { ...init.headers, 'X-Api-Key': key } }),
});
es.onopen = () => out({ open: true });
es.onerror = (e) => out({ error: String(e.message || e.code || 'error'), state: es.readyState });
for (const t of TYPES) es.addEventListener(t, (m) => out({ id: m.lastEventId, type: m.type, data: m.data }));
process.on('SIGTERM', () => { es.close(); process.exit(0); });
