/**
 * The fleet's slots, indexed for the scheduler (pure: no I/O, no clock). The fleet keeps one and
 * tells it each slot's new state (`set`) or that a slot is gone (`delete`); the index updates only
 * what that slot changes, so a round reads these without looking slots up or counting them:
 *  - the slots of each class (target/platform) in order, and the free online ones;
 *  - per class and build, the online slots on it (free with it installed, or busy running it);
 *  - per class, the busy online slots per org of their job, and the online slots per cloud account;
 *  - the busy slots of each cloud account (its sessions in use).
 * What depends on the round's time (how long each busy slot still runs, how many jobs it can start
 * within a hold) is not kept: a round derives it in one pass over packed columns of each class
 * (build group, end estimate, free), which cost a few nanoseconds per slot.
 * A slot's place in the order is fixed when it is first set (the order a round serves free slots
 * in, as with an array of slots); deleting it gives up its place.
 */
import { classKeyOf } from './job-queues.js';
import type { SlotState } from './types.js';

/** A slot as the index holds it: a copy of the last state set, and where it is counted. */
export interface SlotRecord {
  /** Its place in the index's order (smaller: earlier). */
  readonly seq: number;
  /** A copy of the state last set (do not change it). */
  readonly state: Readonly<SlotState>;
  readonly slots: ClassSlots;
  /** Its position in `slots.records` and `slots.columns`. */
  readonly pos: number;
  /** The group of its build while online; null while offline. */
  readonly build: BuildSlots | null;
}

/** The online slots of one class on one build: free with it installed, or busy running it. */
export interface BuildSlots {
  /** The build (`installedAppVersionId` of a free slot, `runningAppVersionId ?? installedAppVersionId` of a busy one); null: none. */
  readonly appVersionId: string | null;
  /** A small integer unique among the index's live groups (rounds use it to index arrays); reused once the group empties. */
  readonly id: number;
  readonly slots: ClassSlots;
  /** In index order; never empty while the group is in `slots.builds` (an emptied group is dropped for good). */
  readonly members: readonly SlotRecord[];
}

/** What a round reads of every slot of a class, packed, one entry per record (same positions; only the first `records.length` are meaningful). */
export interface SlotColumns {
  /** The id of the slot's build group; -1 while offline. */
  readonly buildId: Int32Array;
  /** `busyUntilMs` of a busy slot, NaN when it has none; 0 when free. */
  readonly busyUntilMs: Float64Array;
  /** 1 when free. */
  readonly free: Uint8Array;
  /** The id of the slot's cloud account (`SlotIndex.accountIds`); -1: none. */
  readonly account: Int32Array;
}

/** The slots of one class (`classKeyOf(slot)`). */
export interface ClassSlots {
  readonly classKey: string;
  /** Every slot of the class, online or not, in index order. */
  readonly records: readonly SlotRecord[];
  readonly columns: SlotColumns;
  /** Online slots. */
  readonly online: number;
  /** Free online slots, in index order. */
  readonly free: readonly SlotRecord[];
  /** Online slots per build. */
  readonly builds: ReadonlyMap<string | null, BuildSlots>;
  /** Busy online slots per org of the job they hold (`runningOrgId`). */
  readonly runningByOrg: ReadonlyMap<string, number>;
  /** Online slots per cloud account (`cloudAccount`). */
  readonly onlineByAccount: ReadonlyMap<string, number>;
}

interface MutableBuild {
  appVersionId: string | null;
  id: number;
  slots: ClassSlots;
  members: SlotRecord[];
}

interface MutableRecord {
  seq: number;
  state: Readonly<SlotState>;
  slots: MutableClass;
  pos: number;
  build: MutableBuild | null;
}

interface MutableClass {
  classKey: string;
  records: MutableRecord[];
  columns: { buildId: Int32Array; busyUntilMs: Float64Array; free: Uint8Array; account: Int32Array };
  online: number;
  free: SlotRecord[];
  builds: Map<string | null, MutableBuild>;
  runningByOrg: Map<string, number>;
  onlineByAccount: Map<string, number>;
}

/** Where `seq` goes in `list` (kept in seq order). */
function searchSeq(list: readonly SlotRecord[], seq: number): number {
  let lo = 0;
  let hi = list.length;
  if (hi > 0 && list[hi - 1]!.seq < seq) return hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.seq < seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertBySeq(list: SlotRecord[], rec: SlotRecord): void {
  const i = searchSeq(list, rec.seq);
  if (i === list.length) list.push(rec);
  else list.splice(i, 0, rec);
}

function removeBySeq(list: SlotRecord[], rec: SlotRecord): void {
  const i = searchSeq(list, rec.seq);
  if (list[i] !== rec) throw new Error(`slot index: ${rec.state.slotKey} is not where it should be`);
  if (i === list.length - 1) list.pop();
  else list.splice(i, 1);
}

const add = (m: Map<string, number>, k: string, d: number): void => {
  const n = (m.get(k) ?? 0) + d;
  if (n === 0) m.delete(k);
  else m.set(k, n);
};

/** The build a slot counts for: what it has installed when free, what it runs (or will have) when busy. */
const buildOf = (s: SlotState): string | null => (s.free ? s.installedAppVersionId : (s.runningAppVersionId ?? s.installedAppVersionId));

const same = (a: SlotState, b: SlotState): boolean =>
  a.target === b.target &&
  a.platform === b.platform &&
  a.installedAppVersionId === b.installedAppVersionId &&
  a.free === b.free &&
  a.online === b.online &&
  a.cloudAccount === b.cloudAccount &&
  a.runningOrgId === b.runningOrgId &&
  a.runningAppVersionId === b.runningAppVersionId &&
  a.busyUntilMs === b.busyUntilMs;

export class SlotIndex {
  readonly #records = new Map<string, MutableRecord>();
  readonly #classes = new Map<string, MutableClass>();
  readonly #runningByAccount = new Map<string, number>();
  /** A small integer per cloud account ever seen (for the `account` column). */
  readonly #accountIds = new Map<string, number>();
  /** The classes in the order of their first slot; null when a class or a first slot changed. */
  #classOrder: MutableClass[] | null = null;
  /** Group ids given back by emptied groups, reused first so ids stay small. */
  readonly #freeIds: number[] = [];
  #nextId = 0;
  #seq = 0;

  /**
   * A new index of `slots`, in their order. Slot keys must be unique.
   * @example SlotIndex.of(fleet.slotStates()).size // → 5000
   */
  static of(slots: Iterable<SlotState>): SlotIndex {
    const index = new SlotIndex();
    for (const s of slots) {
      if (index.#records.has(s.slotKey)) throw new Error(`slot ${s.slotKey} is given twice`);
      index.set(s);
    }
    return index;
  }

  get size(): number {
    return this.#records.size;
  }

  /** Upper bound (exclusive) of the live build groups' ids. */
  get buildIdLimit(): number {
    return this.#nextId;
  }

  has(slotKey: string): boolean {
    return this.#records.has(slotKey);
  }

  /** The state last set for the slot (a copy: do not change it). */
  get(slotKey: string): Readonly<SlotState> | undefined {
    return this.#records.get(slotKey)?.state;
  }

  /** Every slot's state, in index order. O(slots). */
  states(): Readonly<SlotState>[] {
    const out: Readonly<SlotState>[] = [];
    for (const r of this.#records.values()) out.push(r.state);
    return out;
  }

  /** The slots of a class, or undefined when it has none. */
  classOf(classKey: string): ClassSlots | undefined {
    return this.#classes.get(classKey);
  }

  /** The classes with slots, in the order of their first slot (do not change the array). */
  classes(): readonly ClassSlots[] {
    this.#classOrder ??= [...this.#classes.values()].sort((a, b) => a.records[0]!.seq - b.records[0]!.seq);
    return this.#classOrder;
  }

  /** The id of each cloud account ever seen (ids are 0, 1, 2, … and never reused). */
  get accountIds(): ReadonlyMap<string, number> {
    return this.#accountIds;
  }

  /** How many slots are free and online. O(classes). */
  freeCount(): number {
    let n = 0;
    for (const c of this.#classes.values()) n += c.free.length;
    return n;
  }

  /** Busy slots per cloud account (sessions in use), online or not. */
  get runningByAccount(): ReadonlyMap<string, number> {
    return this.#runningByAccount;
  }

  /**
   * Records a slot's state (a new slot goes last in the order). Cost: O(1) when nothing changed,
   * else a few map updates, binary searches, and moving it in its build group's and its class's free
   * list (O(their length)); a slot that changes class also moves in the classes' lists and columns.
   * The state is copied (its `SlotState` fields; absent ones become undefined): changing the object
   * afterwards does not change the index.
   * @example index.set({ ...state, free: true, runningOrgId: null, runningAppVersionId: null, busyUntilMs: null })
   */
  set(state: SlotState): void {
    const prev = this.#records.get(state.slotKey);
    if (prev && same(prev.state, state)) return;
    // Every copy has the same fields in the same order (one hidden class for the code that reads them).
    const copy: SlotState = {
      slotKey: state.slotKey,
      target: state.target,
      platform: state.platform,
      installedAppVersionId: state.installedAppVersionId,
      free: state.free,
      online: state.online,
      cloudAccount: state.cloudAccount,
      runningOrgId: state.runningOrgId,
      runningAppVersionId: state.runningAppVersionId,
      busyUntilMs: state.busyUntilMs,
    };
    const classKey = classKeyOf(state);
    if (!prev) {
      const slots = this.#classOf(classKey);
      const rec: MutableRecord = { seq: this.#seq++, state: copy, slots, pos: -1, build: null };
      this.#records.set(state.slotKey, rec);
      this.#enterClass(rec);
      this.#count(rec, 1);
      return;
    }
    this.#count(prev, -1);
    prev.state = copy;
    if (prev.slots.classKey !== classKey) {
      this.#leaveClass(prev);
      prev.slots = this.#classOf(classKey);
      this.#enterClass(prev);
    }
    this.#count(prev, 1);
  }

  /** Forgets a slot; returns whether it was there. */
  delete(slotKey: string): boolean {
    const rec = this.#records.get(slotKey);
    if (!rec) return false;
    this.#count(rec, -1);
    this.#leaveClass(rec);
    this.#records.delete(slotKey);
    return true;
  }

  #classOf(classKey: string): MutableClass {
    let c = this.#classes.get(classKey);
    if (!c) {
      c = {
        classKey,
        records: [],
        columns: { buildId: new Int32Array(16), busyUntilMs: new Float64Array(16), free: new Uint8Array(16), account: new Int32Array(16) },
        online: 0,
        free: [],
        builds: new Map(),
        runningByOrg: new Map(),
        onlineByAccount: new Map(),
      };
      this.#classes.set(classKey, c);
      this.#classOrder = null;
    }
    return c;
  }

  /** Puts the record in its class's records and columns, at its place in the order. */
  #enterClass(rec: MutableRecord): void {
    const c = rec.slots;
    const n = c.records.length;
    let cols = c.columns;
    if (cols.buildId.length === n) {
      const grown = { buildId: new Int32Array(2 * n), busyUntilMs: new Float64Array(2 * n), free: new Uint8Array(2 * n), account: new Int32Array(2 * n) };
      grown.buildId.set(cols.buildId);
      grown.busyUntilMs.set(cols.busyUntilMs);
      grown.free.set(cols.free);
      grown.account.set(cols.account);
      c.columns = cols = grown;
    }
    const i = searchSeq(c.records, rec.seq);
    if (i < n) {
      c.records.splice(i, 0, rec);
      cols.buildId.copyWithin(i + 1, i, n);
      cols.busyUntilMs.copyWithin(i + 1, i, n);
      cols.free.copyWithin(i + 1, i, n);
      cols.account.copyWithin(i + 1, i, n);
      for (let j = i + 1; j <= n; j++) c.records[j]!.pos = j;
    } else c.records.push(rec);
    rec.pos = i;
    cols.buildId[i] = -1;
    if (i === 0) this.#classOrder = null;
  }

  #leaveClass(rec: MutableRecord): void {
    const c = rec.slots;
    const i = rec.pos;
    const n = c.records.length;
    c.records.splice(i, 1);
    if (i < n - 1) {
      const cols = c.columns;
      cols.buildId.copyWithin(i, i + 1, n);
      cols.busyUntilMs.copyWithin(i, i + 1, n);
      cols.free.copyWithin(i, i + 1, n);
      cols.account.copyWithin(i, i + 1, n);
      for (let j = i; j < n - 1; j++) c.records[j]!.pos = j;
    }
    rec.pos = -1;
    if (c.records.length === 0) this.#classes.delete(c.classKey);
    if (i === 0) this.#classOrder = null;
  }

  /** Adds (`d` = 1) or removes (`d` = -1) the record's state from every count, list and column but its class's records. */
  #count(rec: MutableRecord, d: 1 | -1): void {
    const s = rec.state;
    const c = rec.slots;
    const account = s.cloudAccount;
    if (!s.free && account !== undefined) add(this.#runningByAccount, account, d);
    if (d > 0) {
      c.columns.free[rec.pos] = s.free ? 1 : 0;
      c.columns.busyUntilMs[rec.pos] = s.free ? 0 : (s.busyUntilMs ?? NaN);
      let id = -1;
      if (account !== undefined) {
        id = this.#accountIds.get(account) ?? this.#accountIds.size;
        if (id === this.#accountIds.size) this.#accountIds.set(account, id);
      }
      c.columns.account[rec.pos] = id;
    }
    if (!s.online) return;
    c.online += d;
    if (account !== undefined) add(c.onlineByAccount, account, d);
    if (s.free) {
      if (d > 0) insertBySeq(c.free, rec);
      else removeBySeq(c.free, rec);
    } else if (s.runningOrgId) add(c.runningByOrg, s.runningOrgId, d);
    if (d > 0) {
      const key = buildOf(s);
      let b = c.builds.get(key);
      if (!b) {
        b = { appVersionId: key, id: this.#freeIds.pop() ?? this.#nextId++, slots: c, members: [] };
        c.builds.set(key, b);
      }
      insertBySeq(b.members, rec);
      rec.build = b;
      c.columns.buildId[rec.pos] = b.id;
    } else {
      const b = rec.build!;
      removeBySeq(b.members, rec);
      if (b.members.length === 0) {
        c.builds.delete(b.appVersionId);
        this.#freeIds.push(b.id);
      }
      rec.build = null;
      c.columns.buildId[rec.pos] = -1;
    }
  }
}
