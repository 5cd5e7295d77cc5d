-- The operator's note on a ledger entry (a grant's reason, a refund's provider id).
ALTER TABLE `ledger` ADD `note` text;--> statement-breakpoint
-- Times an operator retried a failed order; each retry is a new runner job.
ALTER TABLE `orders` ADD `operator_retries` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- When retention deleted a finished order's blobs.
ALTER TABLE `orders` ADD `purged_at` integer;
