ALTER TABLE `orders` ADD `checkout_expires_at` integer;--> statement-breakpoint
ALTER TABLE `orders` ADD `audio_deleted_at` integer;--> statement-breakpoint
-- Orders that expired before audio was kept for late payments had it deleted at once.
UPDATE `orders` SET `audio_deleted_at` = `updated_at` WHERE `state` = 'expired';
