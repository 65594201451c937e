import type * as common from 'oci-common';
import { StreamAdminClient, type models } from 'oci-streaming';
import type { AuthProvider } from './auth';
import { regionOf } from './auth';
import { withStreamErrors } from './stream';

export interface StreamInfo {
  id: string;
  name: string;
  partitions: number;
  compartmentId: string;
  streamPoolId: string;
  lifecycleState: string;
  /** Where `OciStream` must send this stream's messages. */
  messagesEndpoint: string;
  /** Absent in list answers. */
  retentionInHours?: number;
}

export interface CreateStreamInput {
  name: string;
  partitions: number;
  /** 24 to 168; OCI cannot change it after creation. */
  retentionInHours?: number;
  compartmentId?: string;
  streamPoolId?: string;
}

export interface ListStreamsInput {
  compartmentId?: string;
  streamPoolId?: string;
  name?: string;
  limit?: number;
  page?: string;
}

export interface OciStreamAdminConfig {
  authProvider: AuthProvider;
  /** e.g. `http://127.0.0.1:PORT`; defaults to the region's Streaming endpoint. The SDK appends `/20180418`. */
  endpoint?: string;
  region?: string;
  clientConfiguration?: common.ClientConfiguration;
}

/** The Streaming control plane, thinly: errors become the `Stream` port's. */
export class OciStreamAdmin {
  private readonly client: StreamAdminClient;

  constructor(options: { client: StreamAdminClient } | OciStreamAdminConfig) {
    if ('client' in options) {
      this.client = options.client;
      return;
    }
    this.client = new StreamAdminClient({ authenticationDetailsProvider: options.authProvider }, options.clientConfiguration);
    if (options.region !== undefined) this.client.region = regionOf(options.region);
    if (options.endpoint !== undefined) {
      this.client.endpoint = options.endpoint.replace(/\/+$/, '').replace(/\/20180418$/, '');
    }
  }

  async createStream(input: CreateStreamInput): Promise<StreamInfo> {
    const response = await withStreamErrors(input.name, () => this.client.createStream({ createStreamDetails: { ...input } }));
    return toStreamInfo(response.stream);
  }

  async getStream(streamId: string): Promise<StreamInfo> {
    const response = await withStreamErrors(streamId, () => this.client.getStream({ streamId }));
    return toStreamInfo(response.stream);
  }

  async listStreams(input: ListStreamsInput): Promise<{ streams: StreamInfo[]; nextPage?: string }> {
    const response = await withStreamErrors(input.name ?? '', () => this.client.listStreams({ ...input }));
    return {
      streams: response.items.map(toStreamInfo),
      ...(response.opcNextPage ? { nextPage: response.opcNextPage } : {}),
    };
  }

  async deleteStream(streamId: string): Promise<void> {
    await withStreamErrors(streamId, () => this.client.deleteStream({ streamId }));
  }
}

function toStreamInfo(stream: models.Stream | models.StreamSummary): StreamInfo {
  return {
    id: stream.id,
    name: stream.name,
    partitions: stream.partitions,
    compartmentId: stream.compartmentId,
    streamPoolId: stream.streamPoolId,
    lifecycleState: stream.lifecycleState,
    messagesEndpoint: stream.messagesEndpoint,
    ...('retentionInHours' in stream ? { retentionInHours: stream.retentionInHours } : {}),
  };
}
