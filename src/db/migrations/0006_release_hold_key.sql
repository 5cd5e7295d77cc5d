-- Held seconds given back when an order closed unpaid used the failure refund's key (refund:<order>), so a
-- late payment followed by a failure lost the refund. They now have their own key (release:<order>); this
-- renames the old ones: a refund:<order> entry of an order that had a hold, written before its seconds were
-- spent (spend:<order>), is a hold's return. A failure's refund always comes after that spend.
UPDATE `ledger` SET `key` = 'release:' || `order_id`
WHERE `kind` = 'refund' AND `order_id` IS NOT NULL AND `key` = 'refund:' || `order_id`
  AND EXISTS (SELECT 1 FROM `ledger` AS `h` WHERE `h`.`key` = 'hold:' || `ledger`.`order_id`)
  AND NOT EXISTS (SELECT 1 FROM `ledger` AS `s` WHERE `s`.`key` = 'spend:' || `ledger`.`order_id` AND `s`.`id` < `ledger`.`id`);
