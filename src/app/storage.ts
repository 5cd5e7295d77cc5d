import type { Config } from '../config';
import type { BlobStore } from '../ports/blob-store';
import { LocalBlobStore } from '../storage/local-blob-store';
import { S3BlobStore } from '../storage/s3-blob-store';

/** The blob store `STORAGE` names: a directory under `DATA_DIR` by default, an S3 bucket with `STORAGE=s3`. */
export function blobStoreFromConfig(config: Config): BlobStore {
  const storage = config.storage;
  if (storage.kind === 'local') return new LocalBlobStore(storage.root);
  return new S3BlobStore({
    bucket: storage.bucket,
    region: storage.region,
    endpoint: storage.endpoint,
    forcePathStyle: storage.forcePathStyle,
  });
}
