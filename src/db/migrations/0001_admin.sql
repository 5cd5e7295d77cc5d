ALTER TABLE `ledger` ADD `note` text;--> statement-breakpoint
ALTER TABLE `orders` ADD `retries` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `orders` ADD `purged_at` integer;