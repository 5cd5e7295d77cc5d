ALTER TABLE `orders` ADD `retries` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `orders` ADD `next_attempt_at` integer;--> statement-breakpoint
UPDATE `orders` SET `audio_deleted_at` = `delivered_at` WHERE `state` = 'delivered' AND EXISTS (SELECT 1 FROM `outbox` WHERE `outbox`.`key` = 'transcript:' || `orders`.`id` AND `outbox`.`state` = 'sent');--> statement-breakpoint
CREATE INDEX `orders_audio_kept` ON `orders` (`delivered_at`) WHERE "orders"."state" = 'delivered' and "orders"."audio_deleted_at" is null;--> statement-breakpoint
ALTER TABLE `outbox` ADD `lane` text DEFAULT '' NOT NULL;--> statement-breakpoint
UPDATE `outbox` SET `lane` = coalesce(`order_id`, `channel` || ':' || json_extract(`address`, '$.chatId'));--> statement-breakpoint
CREATE INDEX `outbox_lane` ON `outbox` (`lane`,`state`);
