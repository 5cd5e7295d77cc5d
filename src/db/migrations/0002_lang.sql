ALTER TABLE `orders` ADD `translate` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `orders` ADD `formats` text;--> statement-breakpoint
ALTER TABLE `users` ADD `translate` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `users` ADD `formats` text;