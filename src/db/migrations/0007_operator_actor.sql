CREATE TABLE `operator_retries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`order_id` text NOT NULL,
	`actor` text NOT NULL,
	`order_state` text NOT NULL,
	`order_error` text,
	`replies` text NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`order_id`) REFERENCES `orders`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `operator_retries_order` ON `operator_retries` (`order_id`);--> statement-breakpoint
ALTER TABLE `ledger` ADD `actor` text;