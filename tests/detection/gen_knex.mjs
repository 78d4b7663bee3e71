// tests/detection/gen_knex.mjs: writes benign_knex.tsv, benign statements
// as the Knex query builder (3.1.0) compiles them for PostgreSQL, MySQL,
// SQL Server and Oracle, with literals inlined as an audit log records
// them. The query shapes and the data are chosen here; the SQL text is
// Knex's. No database or driver is needed. Regenerate with:
//   mkdir /tmp/k && cd /tmp/k && npm install knex@3.1.0 &&
//   cp $REPO/tests/detection/gen_knex.mjs . &&
//   node gen_knex.mjs > $REPO/tests/detection/benign_knex.tsv
import knexLib from 'knex';

let seed = 20250115;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
const pick = (a) => a[Math.floor(rnd() * a.length)];
const int = (n) => Math.floor(rnd() * n);

// Data as users type it: apostrophes, punctuation, SQL words in text.
const names = ["O'Brien", 'Zoë Martín', 'smith', 'Jean-Luc', "D'Angelo", 'admin', 'Null Island',
	'Robert; DROP', 'select committee', 'or else', 'union station', 'Anne & Co.', '100% cotton',
	'a--b', '50/50 #1', 'C:\\temp', 'x_y', '"quoted"', 'sleep well', 'Ünïcödé'];
const words = ['widget', 'order', 'invoice', 'report 2024', "it's", 'free shipping', 'back-order',
	'WHERE to buy', 'user_id', 'Grant application', 'copy of form'];
const emails = ['a@example.com', 'bob.smith+tag@example.org', "o'hara@example.net"];

const shapes = [
	(k) => k('users').select('id', 'email').where({ name: pick(names), active: rnd() < 0.5 }).limit(21),
	(k) => k('users').select('*').where('id', int(100000)).first(),
	(k) => k('orders').whereIn('status', ['paid', 'shipped', pick(words)]).andWhere('total', '>', int(500))
		.orderBy('created_at', 'desc').limit(50).offset(int(10) * 50),
	(k) => k('products').where('name', 'like', `%${pick(words)}%`).orWhere('sku', 'like', `${pick(words)}%`)
		.limit(25),
	(k) => k('users').where('email', pick(emails)).orWhere('username', pick(names)).first(),
	(k) => k('events').whereBetween('created_at', ['2025-01-01', '2025-01-31']).whereNotNull('user_id')
		.count('* as n'),
	(k) => k('orders as o').join('customers as c', 'c.id', 'o.customer_id')
		.leftJoin('addresses as a', 'a.id', 'c.address_id')
		.select('o.id', 'c.name', 'a.city').where('c.country', pick(['FR', 'DE', "Côte d'Ivoire"])),
	(k) => k('orders').select('customer_id').sum('total as s').groupBy('customer_id')
		.having('s', '>', int(1000)),
	(k) => k('posts').whereIn('author_id', k('users').select('id').where('role', pick(['editor', 'admin'])))
		.select('title'),
	(k) => k('users as u').whereExists(k('orders as o').whereRaw('o.user_id = u.id')
		.where('o.total', '>', int(100))).select('u.id'),
	(k) => k('users').select('id', 'name').where('kind', 'a').union(k('admins').select('id', 'name')
		.where('kind', 'b')),
	(k) => k.with('recent', k('sessions').select('user_id').max('seen_at as last').groupBy('user_id'))
		.select('u.id', 'r.last').from('users as u').join('recent as r', 'r.user_id', 'u.id')
		.where('r.last', '>', '2025-01-01'),
	(k) => k('scores').select('player', k.raw('row_number() over (order by points desc) as rank'))
		.where('season', 2000 + int(25)),
	(k) => k('users').whereNot('status', 'deleted').whereNull('deleted_at').orderBy([{ column: 'name' },
		{ column: 'id', order: 'desc' }]),
	(k) => k('comments').insert({ post_id: int(1000), body: pick(names) + ' said: ' + pick(words),
		created_at: '2025-01-15 10:00:00' }),
	(k) => k('tags').insert([{ name: pick(words) }, { name: pick(names) }, { name: pick(words) }]),
	(k) => k('accounts').where('id', int(5000)).update({ name: pick(names), email: pick(emails),
		updated_at: '2025-01-15 10:00:00' }),
	(k) => k('accounts').where('id', int(5000)).increment('balance', int(100)),
	(k) => k('sessions').where('expires_at', '<', '2025-01-01').del(),
	(k) => k('carts').where({ user_id: int(100), item_id: int(100) }).del(),
	(k) => k('users').distinct('country').whereNotIn('country', ['XX', 'ZZ']),
	(k) => k('audit').select('id').where('note', 'ilike', `%${pick(words)}%`),
	(k) => k('users').count('id as n').where('created_at', '>=', '2024-06-01').andWhere(function () {
		this.where('plan', 'pro').orWhere('plan', 'enterprise');
	}),
];

// Shapes of one dialect only: JSON operators and upserts.
const only = {
	pg: [
		(k) => k('docs').whereJsonPath('data', '$.owner.name', '=', pick(names)),
		(k) => k('docs').whereJsonSupersetOf('data', { tags: [pick(words)] }),
		(k) => k('users').insert({ email: pick(emails), name: pick(names) }).onConflict('email').merge()
			.returning('id'),
		(k) => k('items').where('attrs', '@>', JSON.stringify({ color: 'red' })),
	],
	mysql: [
		(k) => k('docs').whereJsonPath('data', '$.owner.name', '=', pick(names)),
		(k) => k('users').insert({ email: pick(emails), name: pick(names) }).onConflict('email').merge(),
		(k) => k('users').insert({ email: pick(emails) }).onConflict('email').ignore(),
	],
	mssql: [
		(k) => k('docs').whereJsonPath('data', '$.owner.name', '=', pick(names)),
	],
	oracledb: [
		(k) => k('docs').whereJsonPath('data', '$.owner.name', '=', pick(names)),
	],
};

const dialects = { pg: 'postgresql', mysql: 'mysql', mssql: 'sqlserver', oracledb: 'oracle' };
const seen = new Set();
console.log('# Benign statements as Knex 3.1.0 compiles them (tests/detection/gen_knex.mjs);');
console.log('# dialect<TAB>statement, literals inlined. Generated: do not edit by hand.');
for (const [client, dialect] of Object.entries(dialects)) {
	const k = knexLib({ client });
	for (let round = 0; round < 12; round++) {
		for (const shape of shapes.concat(only[client])) {
			const sql = shape(k).toString().replace(/[\t\r\n]+/g, ' ');
			if (seen.has(dialect + sql))
				continue;
			seen.add(dialect + sql);
			console.log(`${dialect}\t${sql}`);
		}
	}
}
