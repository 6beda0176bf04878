/**
 * A SearchService served through the edge for the edge's own tests: its
 * handlers echo the caller, fail on request, and stream a test event log.
 */
import { Client, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { ChannelCredentials, ClientOptions, ServiceDefinition } from '@grpc/grpc-js';
import * as pb from '@nasnet/proto';
import { serverStream, unary, type ErrorTable, type EventFeed, type GrpcService } from '../src/index.js';

export class MissingError extends Error {
  constructor(readonly id: string) {
    super(`search '${id}' not found`);
    this.name = 'MissingError';
  }
}

/** The test service's error table: one known error with a field, the rest unknown. */
export const errors: ErrorTable = (err) => (err instanceof MissingError ? { code: status.NOT_FOUND, message: err.message, field: 'search_id' } : undefined);

/** An append-only event log with live listeners, as the job registries keep one per job. */
export class EventLog {
  readonly events: pb.SearchEvent[] = [];
  private readonly listeners = new Set<(e: pb.SearchEvent | 'end') => void>();
  private ended = false;
  /** How many events the log handed to subscribers, and how many subscriptions were opened and stopped. */
  delivered = 0;
  subscriptions = 0;
  stops = 0;
  onStop?: () => void;
  onDelivered?: (count: number) => void;

  append(count: number, payloadChars: number): void {
    for (let i = 0; i < count; i++) {
      const e = pb.SearchEvent.fromPartial({ searchId: 's', sequence: this.events.length + 1, event: { $case: 'log', value: { message: 'x'.repeat(payloadChars) } } });
      this.events.push(e);
      for (const l of [...this.listeners]) l(e);
    }
  }

  end(): void {
    this.ended = true;
    for (const l of [...this.listeners]) l('end');
  }

  /** With `later`, subscribe answers with a promise, as the job registries' watch() does. */
  feed(from: number, later = false): EventFeed<pb.SearchEvent> {
    return {
      from,
      subscribe: (start, deliver) => (later ? Promise.resolve().then(() => this.subscribe(start, deliver)) : this.subscribe(start, deliver)),
    };
  }

  private subscribe(start: number, deliver: (e: pb.SearchEvent | 'end') => boolean): () => void {
    this.subscriptions++;
    let open = true;
    const counted = (e: pb.SearchEvent | 'end') => {
      if (!open) return false;
      if (e !== 'end') {
        this.delivered++;
        this.onDelivered?.(this.delivered);
      }
      return deliver(e);
    };
    // A replay stops where the stream says it takes no more.
    let wanted = true;
    for (const e of this.events.slice(Math.max(0, start - 1))) {
      wanted = counted(e);
      if (!wanted) break;
    }
    if (wanted && this.ended) counted('end');
    else if (wanted) this.listeners.add(counted);
    return () => {
      open = false;
      this.stops++;
      this.listeners.delete(counted);
      this.onStop?.();
    };
  }
}

export interface Fixture {
  service: GrpcService;
  /** Requests the handlers saw and deserializer runs, to prove what never reached them. */
  handled: number;
  decoded: number;
  log: EventLog;
}

/** The SearchService definition, with its deserializers counted. */
export function fixture(): Fixture {
  const f: Fixture = { handled: 0, decoded: 0, log: new EventLog(), service: undefined as never };
  const definition: Record<string, ServiceDefinition[string]> = {};
  for (const [key, method] of Object.entries(pb.SearchServiceService as ServiceDefinition)) {
    definition[key] = { ...method, requestDeserialize: (bytes: Buffer) => { f.decoded++; return method.requestDeserialize(bytes); } };
  }
  const handlers = {
    getSearch: unary(errors, (req: pb.GetSearchRequest, ctx): pb.GetSearchResponse => {
      f.handled++;
      if (req.searchId === 'missing') throw new MissingError(req.searchId);
      if (req.searchId === 'crash') throw new Error('disk /var/secret/state.db is corrupt');
      return { status: pb.SearchStatus.fromPartial({ searchId: req.searchId, submitter: ctx.caller ?? '' }) };
    }),
    submitSearch: unary(errors, (req: pb.SubmitSearchRequest): pb.SubmitSearchResponse => {
      f.handled++;
      return { searchId: req.spec?.name ?? '', status: undefined };
    }),
    listSearches: unary(errors, (): pb.ListSearchesResponse => ({ searches: [], nextPageToken: '' })),
    cancelSearch: unary(errors, (): pb.CancelSearchResponse => ({ status: undefined })),
    topArchitectures: unary(errors, (): pb.TopArchitecturesResponse => ({ architectures: [] })),
    watchSearch: serverStream(errors, (req: pb.WatchSearchRequest) => {
      if (req.searchId === 'missing') throw new MissingError(req.searchId);
      return f.log.feed(Math.max(1, req.fromSequence), req.searchId === 'later');
    }),
  };
  f.service = { definition, handlers };
  return f;
}

export interface Outcome<T> {
  value?: T;
  error?: ServiceError;
}

const settle = <T>(p: Promise<T>): Promise<Outcome<T>> => p.then((value) => ({ value }), (error: ServiceError) => ({ error }));

export function getSearch(client: pb.SearchServiceClient, searchId: string, md = new Metadata()): Promise<Outcome<pb.GetSearchResponse>> {
  return settle(new Promise((resolve, reject) => client.getSearch({ searchId }, md, (e, r) => (e ? reject(e) : resolve(r)))));
}

export const bearer = (token: string, scheme = 'Bearer'): Metadata => {
  const md = new Metadata();
  md.set('authorization', `${scheme} ${token}`);
  return md;
};

/** Sends raw bytes as a method's request, whatever they are. */
export function rawCall(address: string, creds: ChannelCredentials, method: string, body: Uint8Array, md = new Metadata(), options: Partial<ClientOptions> = {}): Promise<ServiceError | null> {
  const client = new Client(address, creds, options);
  return new Promise((resolve) => {
    client.makeUnaryRequest(`/nas.v1.SearchService/${method}`, (x: Buffer) => x, (x: Buffer) => x, Buffer.from(body), md, (err: ServiceError | null) => {
      client.close();
      resolve(err);
    });
  });
}
