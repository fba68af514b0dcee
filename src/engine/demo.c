/* demo.c - the demo marketplace: users and orders in every state, made by
 * running commands, never by writing rows. */
#include "engine/demo.h"

#include <string.h>

#include "util/error.h"

struct person {
	enum esc_actor role;
	const char *name;
	const char *email;
};

static const struct person people[] = {
	{ESC_ACTOR_BUYER, "Ana Buyer", "ana@demo.escrowd.test"},
	{ESC_ACTOR_BUYER, "Bjorn Buyer", "bjorn@demo.escrowd.test"},
	{ESC_ACTOR_BUYER, "Chloe Buyer", "chloe@demo.escrowd.test"},
	{ESC_ACTOR_SELLER, "Nordic Knits", "knits@demo.escrowd.test"},
	{ESC_ACTOR_SELLER, "Lava Ceramics", "ceramics@demo.escrowd.test"},
	{ESC_ACTOR_SELLER, "Harbour Records", "records@demo.escrowd.test"},
	{ESC_ACTOR_ARBITER, "Dora Arbiter", "arbiter@demo.escrowd.test"},
};
#define PEOPLE (sizeof people / sizeof people[0])

struct demo {
	struct esc_engine *e;
	struct esc_user users[PEOPLE];
	int rc;
	int orders;
};

static void print_signin(FILE *out)
{
	fprintf(out, "Sign in with any of these (password: %s):\n", ESC_DEMO_PASSWORD);
	for (size_t i = 0; i < PEOPLE; i++)
		fprintf(out, "  %-8s %-28s %s\n", esc_actor_name(people[i].role), people[i].email,
			people[i].name);
}

/* Run one command; the first failure stops the demo. */
static void run(struct demo *d, struct esc_command *c, struct esc_order *o)
{
	struct esc_result r;
	if (d->rc)
		return;
	if (o && c->event != ESC_EV_CREATE)
		c->order_id = o->id;
	esc_engine_exec(d->e, c, &r);
	if (r.rc) {
		fprintf(stderr, "demo: %s failed: %s\n", esc_event_name(c->event), r.message);
		d->rc = r.rc;
		return;
	}
	if (o) {
		*o = r.order;
		if (c->event == ESC_EV_CREATE)
			d->orders++;
	}
}

static void create(struct demo *d, struct esc_order *o, int buyer, int seller, const char *title,
		   int64_t price)
{
	struct esc_command c;
	struct esc_item item = {.quantity = 1, .unit_price_minor = price};
	snprintf(item.title, sizeof item.title, "%s", title);
	esc_command_init(&c, ESC_EV_CREATE, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.buyer_id = d->users[buyer].id;
	c.args.seller_id = d->users[seller].id;
	c.args.currency = "EUR";
	c.args.items = &item;
	c.args.items_count = 1;
	run(d, &c, o);
}

static void pay(struct demo *d, struct esc_order *o, enum esc_method method)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_PAY, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.amount_minor = o->total_minor;
	c.args.method = (int)method;
	run(d, &c, o);
}

static void as(struct demo *d, struct esc_order *o, enum esc_event ev, enum esc_actor who)
{
	struct esc_command c;
	const char *id = who == ESC_ACTOR_BUYER    ? o->buyer_id
			 : who == ESC_ACTOR_SELLER ? o->seller_id
						   : NULL;
	esc_command_init(&c, ev, who, id, NULL);
	if (ev == ESC_EV_SHIP) {
		c.args.carrier = "Posturinn";
		c.args.tracking = "RR123456789IS";
	}
	run(d, &c, o);
}

static void request(struct demo *d, struct esc_order *o, const char *reason, enum esc_refund_to to)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_CANCEL, ESC_ACTOR_BUYER, o->buyer_id, NULL);
	c.args.reason = reason;
	c.args.refund_to = (int)to;
	run(d, &c, o);
}

static void reject(struct demo *d, struct esc_order *o, const char *message)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_REJECT_CANCELLATION, ESC_ACTOR_SELLER, o->seller_id, NULL);
	c.args.message = message;
	run(d, &c, o);
}

static void dispute_as(struct demo *d, struct esc_order *o, const char *ground, const char *outcome,
		       int64_t amount, const char *description)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_OPEN_DISPUTE, ESC_ACTOR_BUYER, o->buyer_id, NULL);
	c.args.ground = ground;
	c.args.outcome = outcome;
	c.args.amount_minor = amount;
	c.args.description = description;
	run(d, &c, o);
}

static void dispute(struct demo *d, struct esc_order *o, const char *ground, int64_t amount,
		    const char *description)
{
	dispute_as(d, o, ground, "refund_only", amount, description);
}

/* A party's answer in the dispute: an amount and a message as it takes. */
static void answer(struct demo *d, struct esc_order *o, enum esc_event ev, enum esc_actor who,
		   int64_t amount, const char *message)
{
	struct esc_command c;
	esc_command_init(&c, ev, who, who == ESC_ACTOR_BUYER ? o->buyer_id : o->seller_id, NULL);
	c.args.amount_minor = amount;
	c.args.message = message;
	if (ev == ESC_EV_RETURN_SHIPMENT) {
		c.args.carrier = "Posturinn";
		c.args.tracking = "RR987654321IS";
	}
	run(d, &c, o);
}

/* A 1x1 PNG, red: a photo of the damage, as evidence. */
static const unsigned char photo_png[] = {
	0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
	0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00,
	0x00, 0x90, 0x77, 0x53, 0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78,
	0x9c, 0x63, 0x38, 0x63, 0x6c, 0x0c, 0x00, 0x03, 0x01, 0x01, 0x33, 0xc4, 0xc2, 0x7b,
	0x13, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

static void evidence(struct demo *d, const struct esc_order *o, enum esc_actor who,
		     const char *name)
{
	struct esc_evidence ev;
	char why[200];
	if (d->rc)
		return;
	d->rc = esc_engine_evidence_add(
		d->e, who, who == ESC_ACTOR_BUYER ? o->buyer_id : o->seller_id, o->id, "image/png",
		name, photo_png, sizeof photo_png, &ev, why, sizeof why, NULL);
	if (d->rc)
		fprintf(stderr, "demo: evidence: %s\n", why[0] ? why : esc_error_message(d->rc));
}

/* The seller rejects, the buyer escalates: the arbiter's to decide. */
static void escalate(struct demo *d, struct esc_order *o, const char *why)
{
	answer(d, o, ESC_EV_REJECT_DISPUTE, ESC_ACTOR_SELLER, 0, why);
	answer(d, o, ESC_EV_ESCALATE, ESC_ACTOR_BUYER, 0, NULL);
}

static void decide(struct demo *d, struct esc_order *o, const char *arbiter, int64_t refund,
		   const char *reason)
{
	struct esc_command c;
	esc_command_init(&c, ESC_EV_RESOLVE_DISPUTE, ESC_ACTOR_ARBITER, arbiter, NULL);
	c.args.amount_minor = refund;
	c.args.message = reason;
	run(d, &c, o);
}

static void settle(struct demo *d, struct esc_order *o, enum esc_event ev)
{
	struct esc_command c;
	char refund_id[ESC_ID_SIZE];
	snprintf(refund_id, sizeof refund_id, "%.40s-r%u", o->id,
		 (unsigned)o->refunds_count % 100u);
	esc_command_init(&c, ev, ESC_ACTOR_OPERATOR, NULL, NULL);
	c.args.refund_id = refund_id;
	run(d, &c, o);
}

/* The people, in the order of people[]. */
enum { ANA, BJORN, CHLOE, KNITS, CERAMICS, RECORDS, ARBITER };

/* Orders in each state of the order machine, cancellations and refunds
 * included. */
static void orders_in_flow(struct demo *d)
{
	struct esc_order o;

	/* awaiting_payment */
	create(d, &o, ANA, KNITS, "Lopapeysa wool sweater", 18900);
	create(d, &o, BJORN, RECORDS, "Vinyl record, first pressing", 4500);
	/* awaiting_shipment */
	create(d, &o, ANA, CERAMICS, "Stoneware mug, set of 2", 5200);
	pay(d, &o, ESC_METHOD_CARD);
	create(d, &o, CHLOE, KNITS, "Wool mittens", 3900);
	pay(d, &o, ESC_METHOD_WALLET);
	/* awaiting_shipment after a rejected request: one request left */
	create(d, &o, BJORN, CERAMICS, "Serving bowl", 7400);
	pay(d, &o, ESC_METHOD_CARD);
	request(d, &o, "better_price", ESC_REFUND_TO_ORIGINAL);
	reject(d, &o, "The bowl is glazed and packed; it ships tomorrow.");
	/* cancellation_requested */
	create(d, &o, ANA, RECORDS, "Record player needle", 2900);
	pay(d, &o, ESC_METHOD_CARD);
	request(d, &o, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	create(d, &o, CHLOE, CERAMICS, "Vase", 6100);
	pay(d, &o, ESC_METHOD_CARD);
	request(d, &o, "out_of_stock", ESC_REFUND_TO_BALANCE);
	/* shipped */
	create(d, &o, BJORN, KNITS, "Wool socks, 3 pairs", 2700);
	pay(d, &o, ESC_METHOD_CARD);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	/* delivered */
	create(d, &o, ANA, KNITS, "Wool hat", 3300);
	pay(d, &o, ESC_METHOD_WALLET);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	as(d, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	/* completed */
	create(d, &o, CHLOE, RECORDS, "Jazz LP box set", 12900);
	pay(d, &o, ESC_METHOD_CARD);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	as(d, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	as(d, &o, ESC_EV_CONFIRM_RECEIPT, ESC_ACTOR_BUYER);
	/* cancelled: unpaid */
	create(d, &o, BJORN, KNITS, "Scarf", 2500);
	as(d, &o, ESC_EV_CANCEL, ESC_ACTOR_BUYER);
	/* cancelled: accepted, card refund pending */
	create(d, &o, ANA, CERAMICS, "Teapot", 8800);
	pay(d, &o, ESC_METHOD_CARD);
	request(d, &o, "seller_asked", ESC_REFUND_TO_ORIGINAL);
	as(d, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	/* cancelled: accepted, refund settled */
	create(d, &o, CHLOE, RECORDS, "Cassette tape", 1500);
	pay(d, &o, ESC_METHOD_WALLET);
	request(d, &o, "change_order", ESC_REFUND_TO_ORIGINAL);
	as(d, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	settle(d, &o, ESC_EV_REFUND_SETTLED);
	/* cancelled: card refund failed, so it went to the store balance */
	create(d, &o, BJORN, RECORDS, "Poster", 1900);
	pay(d, &o, ESC_METHOD_CARD);
	request(d, &o, "no_longer_needed", ESC_REFUND_TO_ORIGINAL);
	as(d, &o, ESC_EV_ACCEPT_CANCELLATION, ESC_ACTOR_SELLER);
	settle(d, &o, ESC_EV_REFUND_FAILED);
}

/* Orders in each state of the dispute machine, and two decided. */
static void orders_in_dispute(struct demo *d)
{
	struct esc_order o;

	/* in_dispute, awaiting the seller: a cup arrived chipped */
	create(d, &o, ANA, CERAMICS, "Espresso cups, set of 4", 6400);
	pay(d, &o, ESC_METHOD_CARD);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	as(d, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	dispute(d, &o, "not_as_described", 1600, "One of the four cups arrived chipped.");
	/* in_dispute, counter-offered: the buyer has 5 days to take it */
	create(d, &o, BJORN, KNITS, "Cardigan", 11900);
	pay(d, &o, ESC_METHOD_CARD);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	as(d, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	dispute(d, &o, "not_as_described", 6000, "The colour is grey, not the blue shown.");
	answer(d, &o, ESC_EV_COUNTER_OFFER, ESC_ACTOR_SELLER, 3000,
	       "The photo was taken in daylight; I can refund half of what you ask.");
	/* in_dispute, rejected: the buyer may escalate within 5 days */
	create(d, &o, CHLOE, RECORDS, "Signed poster", 4900);
	pay(d, &o, ESC_METHOD_CARD);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	as(d, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	dispute(d, &o, "not_as_described", 4900, "The signature looks printed.");
	answer(d, &o, ESC_EV_REJECT_DISPUTE, ESC_ACTOR_SELLER, 0,
	       "It was signed at the 2019 concert; the certificate is in the tube.");
	/* in_dispute, escalated: in the arbiters' queue */
	create(d, &o, ANA, RECORDS, "Box of 45s", 7700);
	pay(d, &o, ESC_METHOD_CARD);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	as(d, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	dispute(d, &o, "not_as_described", 3500, "Five of the records are warped.");
	evidence(d, &o, ESC_ACTOR_BUYER, "warped-records.png");
	escalate(d, &o, "They were flat when I packed them.");
	evidence(d, &o, ESC_ACTOR_SELLER, "packed-flat.png");
	/* in_dispute, awaiting the return: the seller accepted a return */
	create(d, &o, BJORN, CERAMICS, "Teacup", 3200);
	pay(d, &o, ESC_METHOD_CARD);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	as(d, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	dispute_as(d, &o, "not_as_described", "return_and_refund", 3200,
		   "The cup leaks at the handle.");
	answer(d, &o, ESC_EV_ACCEPT_DISPUTE, ESC_ACTOR_SELLER, 0, NULL);
	/* closed: the tracking number belonged to another parcel; full refund */
	create(d, &o, BJORN, RECORDS, "Limited edition LP", 9900);
	pay(d, &o, ESC_METHOD_CARD);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	dispute(d, &o, "invalid_tracking", 9900,
		"The tracking number shows a parcel delivered to another town.");
	escalate(d, &o, "I gave the parcel to the carrier myself.");
	decide(d, &o, d->users[ARBITER].id, 9900,
	       "The carrier confirms the number belongs to another parcel.");
	/* completed after a dispute: part refunded, the rest released */
	create(d, &o, CHLOE, KNITS, "Wool blanket", 15900);
	pay(d, &o, ESC_METHOD_CARD);
	as(d, &o, ESC_EV_SHIP, ESC_ACTOR_SELLER);
	as(d, &o, ESC_EV_DELIVER, ESC_ACTOR_OPERATOR);
	dispute(d, &o, "not_as_described", 8000, "The blanket is smaller than described.");
	escalate(d, &o, "The size is in the listing.");
	decide(d, &o, d->users[ARBITER].id, 4000,
	       "The size differs by 10 cm from the listing; half the asked amount is fair.");
}

int esc_demo_fill(struct esc_engine *e, FILE *out)
{
	struct demo d = {.e = e};

	for (size_t i = 0; i < PEOPLE && !d.rc; i++) {
		d.rc = esc_engine_user_create(e, people[i].role, people[i].name, people[i].email,
					      ESC_DEMO_PASSWORD, &d.users[i]);
		if (d.rc == ESC_EDUPLICATE && i == 0) {
			fprintf(out, "The store holds the demo marketplace already.\n");
			print_signin(out);
			return ESC_EDUPLICATE;
		}
	}
	orders_in_flow(&d);
	orders_in_dispute(&d);
	if (d.rc)
		return d.rc;
	fprintf(out, "Demo marketplace created: %zu users, %d orders.\n", PEOPLE, d.orders);
	print_signin(out);
	return 0;
}
