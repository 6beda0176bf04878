import { randomBytes } from 'node:crypto';
import { JobListError } from './errors.js';
import type { StateStore } from './types.js';

/**
 * One long list inside a job (a search's children) that the registry stores
 * in segments of `perSegment` items under their own keys, so that a save
 * writes the job's small head and only the segments that changed: a
 * 20,000-child search state is ~21 MB of JSON, and writing all of it on every
 * save held the controller's event loop for seconds (test/bench/load.ts).
 *
 * A segment counts as unchanged while it holds the very same item objects
 * the last stored save wrote: the service keeps items that no longer change
 * as the same (frozen) objects from snapshot to snapshot and hands out new
 * objects for the ones that may (the search loop's exportState does).
 */
export interface SegmentedList<J> {
  /** The list in `job` as it is now ([] when it has none). */
  take(job: J): readonly unknown[];
  /** `job` with its list replaced (by [] in the stored head, by the stored list when read back); a new object, `job` is left as it is. */
  put(job: J, items: unknown[]): J;
  /** Items per stored segment. @default LIST_PER_SEGMENT */
  perSegment?: number;
}

/**
 * Items per segment by default: a child entry is ~1 KB of JSON, so a segment
 * is ~250 KB, one message under NATS's default 1 MiB max_payload, and
 * serialising one takes a few milliseconds of the event loop.
 */
export const LIST_PER_SEGMENT = 250;

const LIST_MARK = '=list=';
/**
 * Store layout of a job with a segmented list:
 *   <id>                  the head: the job with an empty list, and `listSegments`
 *   <id>=list=<k><slot>   { v: 1, tag, items }: segment k in slot a or b
 * A changed segment is written into the slot the stored head does not use,
 * then the head is replaced: a reader sees the old list or the new one,
 * never a mix, and a writer that dies halfway leaves the old one whole. The
 * head names each segment's tag (its slot and a random save id), so a
 * reader that raced two saves sees the mismatch and reads again.
 */
export const listKey = (id: string, segment: number, slot: string) => `${id}${LIST_MARK}${segment}${slot}`;
export const isListKey = (key: string) => key.includes(LIST_MARK);

/** What a stored head says of its list. */
export interface ListSegments {
  v: 1;
  count: number;
  perSegment: number;
  /** Tag of each segment: its slot ('a' or 'b') and the id of the save that wrote it. */
  tags: string[];
}

/** The head field that marks a job stored with a segmented list (old values hold their list inline and lack it). */
export const LIST_FIELD = 'listSegments';

/** What the registry remembers of the list it last stored for a job. */
export interface StoredList {
  tags: string[];
  /** The item arrays last stored per segment (compared by identity). */
  refs: ReadonlyArray<readonly unknown[]>;
}

function checkSegments(raw: unknown, key: string): ListSegments {
  const s = raw as Partial<ListSegments> | undefined;
  if (!s || typeof s !== 'object' || s.v !== 1 || !Number.isSafeInteger(s.count) || s.count! < 0
    || !Number.isSafeInteger(s.perSegment) || s.perSegment! < 1 || !Array.isArray(s.tags)
    || s.tags.length !== Math.ceil(s.count! / s.perSegment!) || !s.tags.every((t) => typeof t === 'string' && /^[ab]/.test(t))) {
    throw new JobListError(key, `${LIST_FIELD} is not { v: 1, count, perSegment, tags: one 'a…'/'b…' per segment }`);
  }
  return s as ListSegments;
}

/**
 * A stored job as one value, its list joined from the segments (a value
 * stored whole, before segments, comes back as it is); undefined when there
 * is none. `stored` is what the registry needs to save the job again. A
 * segment that a concurrent save replaced is read again (twice), then
 * JobListError.
 */
export async function readJob<J>(store: StateStore<unknown>, key: string, list: SegmentedList<J> | undefined): Promise<{ value: J; stored?: StoredList } | undefined> {
  for (let tries = 0; ; tries++) {
    const raw = await store.get(key);
    if (raw === undefined) return undefined;
    if (!list || !raw || typeof raw !== 'object' || !(LIST_FIELD in raw)) return { value: raw as J };
    const { [LIST_FIELD]: marker, ...head } = raw as Record<string, unknown>;
    try {
      const s = checkSegments(marker, key);
      const items: unknown[] = [];
      const refs: unknown[][] = [];
      for (let k = 0; k < s.tags.length; k++) {
        const tag = s.tags[k]!;
        const segKey = listKey(key, k, tag[0]!);
        const seg = (await store.get(segKey)) as { v?: unknown; tag?: unknown; items?: unknown } | undefined;
        if (!seg) throw new JobListError(segKey, 'is missing');
        if (seg.v !== 1 || !Array.isArray(seg.items)) throw new JobListError(segKey, 'is not { v: 1, tag, items: [...] }');
        if (seg.tag !== tag) throw new JobListError(segKey, `holds save ${JSON.stringify(seg.tag)}, the head names ${tag}`);
        const want = Math.min(s.perSegment, s.count - k * s.perSegment);
        if (seg.items.length !== want) throw new JobListError(segKey, `holds ${seg.items.length} items, the head says ${want}`);
        refs.push(seg.items);
        for (const item of seg.items) items.push(item);
      }
      return { value: list.put(head as J, items), stored: { tags: s.tags, refs } };
    } catch (err) {
      // A save replaced a segment between our reads of the head and of it: read the new head.
      if (err instanceof JobListError && tries < 2) continue;
      throw err;
    }
  }
}

/**
 * Writes the segments of `job`'s list that changed since `stored` and then
 * the head; returns what is stored now. Nothing changes `stored` before the
 * head is written, so a failed save is retried whole by the next one.
 */
export async function writeJob<J extends { id: string }>(store: StateStore<unknown>, job: J, list: SegmentedList<J>, stored: StoredList | undefined): Promise<StoredList> {
  const items = list.take(job);
  const per = list.perSegment ?? LIST_PER_SEGMENT;
  const save = randomBytes(4).toString('hex');
  const tags: string[] = [];
  const refs: Array<readonly unknown[]> = [];
  for (let k = 0; k * per < items.length; k++) {
    const seg = items.slice(k * per, (k + 1) * per);
    const old = stored?.refs[k];
    if (old && stored!.tags[k] && old.length === seg.length && seg.every((x, i) => x === old[i])) {
      tags.push(stored!.tags[k]!);
      refs.push(old);
      continue;
    }
    const slot = stored?.tags[k]?.[0] === 'a' ? 'b' : 'a';
    const tag = `${slot}${save}`;
    await store.put(listKey(job.id, k, slot), { v: 1, tag, items: seg });
    tags.push(tag);
    refs.push(seg);
  }
  const segments: ListSegments = { v: 1, count: items.length, perSegment: per, tags };
  await store.put(job.id, { ...list.put(job, []), [LIST_FIELD]: segments });
  return { tags, refs };
}
