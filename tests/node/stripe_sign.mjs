// Signs a webhook payload the way Stripe does, with Stripe's own Node library.
// Usage: node stripe_sign.mjs SECRET TIMESTAMP < payload  → prints the Stripe-Signature header.
import Stripe from "stripe";
import { readFileSync } from "node:fs";

const [secret, timestamp] = process.argv.slice(2);
const payload = readFileSync(0, "utf8");
const stripe = new Stripe("sk_test_unused");
process.stdout.write(stripe.webhooks.generateTestHeaderString({ payload, secret, timestamp: Number(timestamp) }));
