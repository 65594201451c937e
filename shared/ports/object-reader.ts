/**
 * Reading the metadata of any object of the namespace (not only the service's own buckets): object-upload events do
 * not carry `opc-meta-*`, so the object-events function heads the object the event names.
 */
import type { ObjectInfo } from './object-store';

export interface ObjectReader {
  /** The object's current metadata, or undefined when the object (or its bucket) does not exist. */
  headObject(namespaceName: string, bucketName: string, objectName: string): Promise<ObjectInfo | undefined>;
}
