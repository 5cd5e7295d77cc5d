ALTER TABLE `ledger` ADD `note` text;--> statement-breakpoint
ALTER TABLE `orders` ADD `purged_at` integer;