import { join } from 'node:path';
import type { OpenBackupPlace } from '../backup/target';
import { LocalBlobStore } from '../storage/local-blob-store';
import { S3BlobStore } from '../storage/s3-blob-store';

/** Opens the place `BACKUP_TO` names: a folder, or a bucket and prefix with the S3 settings' endpoint, region and credentials. */
export const openBackupPlace: OpenBackupPlace = (target) => {
  if (target.kind === 'folder') {
    // A backup is the whole database: only the service's user may read it.
    const store = new LocalBlobStore(target.path, { fileMode: 0o600 });
    return { store, folder: '', label: target.path, locate: (key) => join(target.path, key) };
  }
  const { bucket, prefix, region, endpoint, forcePathStyle } = target;
  return {
    store: new S3BlobStore({ bucket, region, endpoint, forcePathStyle }),
    folder: prefix,
    label: `s3://${bucket}${prefix ? `/${prefix}` : ''}`,
    locate: (key) => `s3://${bucket}/${key}`,
  };
};
