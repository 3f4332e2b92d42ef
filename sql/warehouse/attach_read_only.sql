-- Builds: the catalog `warehouse`, the published file opened read-only for one reader.
-- From: the published warehouse file (recrl.store.warehouse.connect).
ATTACH $path AS warehouse (READ_ONLY);
