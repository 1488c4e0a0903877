/** The builds room: the build registry (rows in the store, bytes in the data folder). */
export { BlobStore, BlobWriter } from './blob-store.js';
export { BuildRegistry, downloadPath, type BuildRegistryOptions, type Download, type Registered } from './build-registry.js';
