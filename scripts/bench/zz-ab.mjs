var __defProp = Object.defineProperty;
var __export = (target, all2) => {
  for (var name in all2)
    __defProp(target, name, { get: all2[name], enumerable: true });
};

// packages/core/src/ResilienceError.ts
import * as Duration from "effect/Duration";
import * as Option from "effect/Option";
import * as Predicate from "effect/Predicate";
import * as Schema from "effect/Schema";
var CircuitOpenError = class extends Schema.TaggedError()("CircuitOpenError", {
  breaker: Schema.String,
  state: Schema.Literal("Open", "HalfOpen", "Isolated"),
  retryAfter: Schema.DurationFromMillis
}) {
  /** @since 0.1.0 */
  get message() {
    return `Circuit breaker "${this.breaker}" is ${this.state}; retry after ${Duration.format(this.retryAfter)}`;
  }
};
var BulkheadRejectedError = class extends Schema.TaggedError()("BulkheadRejectedError", {
  bulkhead: Schema.String,
  reason: Schema.Literal("full", "timeout")
}) {
  /** @since 0.1.0 */
  get message() {
    return this.reason === "full" ? `Bulkhead "${this.bulkhead}" is full` : `Bulkhead "${this.bulkhead}" timed out waiting for a permit`;
  }
};
var TimeoutError = class extends Schema.TaggedError()("TimeoutError", {
  duration: Schema.DurationFromMillis,
  operation: Schema.optional(Schema.String)
}) {
  /** @since 0.1.0 */
  get message() {
    const what = this.operation === void 0 ? "Operation" : `Operation "${this.operation}"`;
    return `${what} timed out after ${Duration.format(this.duration)}`;
  }
};
var RateLimitedError = class extends Schema.TaggedError()("RateLimitedError", {
  key: Schema.String,
  policy: Schema.Literal("client", "global"),
  retryAfter: Schema.DurationFromMillis,
  limit: Schema.Number,
  remaining: Schema.Number
}) {
  /** @since 0.1.0 */
  get message() {
    return `Rate limit "${this.policy}" exceeded for "${this.key}"; retry after ${Duration.format(this.retryAfter)}`;
  }
};
var InvalidOptionsError = class extends Schema.TaggedError()("InvalidOptionsError", {
  policy: Schema.String,
  option: Schema.String,
  value: Schema.String,
  rule: Schema.String
}) {
  /** @since 0.1.0 */
  get message() {
    return `Invalid ${this.policy} option "${this.option}" = ${this.value}: ${this.rule}`;
  }
};
var ResilienceError = Schema.Union(CircuitOpenError, BulkheadRejectedError, TimeoutError, RateLimitedError);

// packages/core/src/CircuitBreaker.ts
var CircuitBreaker_exports = {};
__export(CircuitBreaker_exports, {
  CircuitOpenError: () => CircuitOpenError,
  OptionsSchema: () => OptionsSchema,
  callsTotal: () => callsTotal2,
  make: () => make4,
  makeScoped: () => makeScoped2,
  rejectionsTotal: () => rejectionsTotal2,
  stateGauge: () => stateGauge2,
  transitionsTotal: () => transitionsTotal2,
  withCircuitBreaker: () => withCircuitBreaker
});
import { dual } from "effect/Function";

// packages/core/src/internal/circuitBreaker.ts
import * as Cause2 from "effect/Cause";
import * as Clock3 from "effect/Clock";
import * as Duration5 from "effect/Duration";
import * as Effect4 from "effect/Effect";
import * as Metric2 from "effect/Metric";
import * as MetricLabel2 from "effect/MetricLabel";
import * as Option5 from "effect/Option";
import * as PubSub from "effect/PubSub";
import * as Queue from "effect/Queue";
import * as Stream from "effect/Stream";

// packages/core/src/CircuitBreakerMachine.ts
import * as Duration4 from "effect/Duration";
import * as Either2 from "effect/Either";
import * as Schema3 from "effect/Schema";

// packages/core/src/internal/circuitBreakerMachine.ts
import * as Duration2 from "effect/Duration";
import * as Option2 from "effect/Option";

// packages/core/src/internal/circuitBreakerWindow.ts
var emptyQueue = { front: void 0, back: void 0 };
var reverse = (list) => {
  let out = void 0;
  for (let node = list; node !== void 0; node = node.tail) out = { head: node.head, tail: out };
  return out;
};
var push = (queue, a) => queue.front === void 0 ? { front: { head: a, tail: void 0 }, back: void 0 } : { front: queue.front, back: { head: a, tail: queue.back } };
var pop = (queue) => {
  const rest = queue.front.tail;
  return rest !== void 0 ? { front: rest, back: queue.back } : { front: reverse(queue.back), back: void 0 };
};
var countWindow = (size) => ({
  _tag: "CountWindow",
  size,
  calls: 0,
  failures: 0,
  slow: 0,
  seq: 0,
  marks: emptyQueue
});
var recordCount = (w, failed, slow) => {
  let { calls, failures, marks, seq } = w;
  let slowCalls = w.slow;
  if (calls === w.size) {
    const oldest = marks.front;
    if (oldest !== void 0 && oldest.head.seq === seq - w.size) {
      if (oldest.head.failed) failures--;
      if (oldest.head.slow) slowCalls--;
      marks = pop(marks);
    }
    if (!failed && !slow && marks === w.marks && marks.front === void 0) return w;
  } else {
    calls++;
  }
  if (failed || slow) {
    marks = push(marks, { seq, failed, slow });
    if (failed) failures++;
    if (slow) slowCalls++;
  }
  if (marks.front !== void 0) seq++;
  return { _tag: "CountWindow", size: w.size, calls, failures, slow: slowCalls, seq, marks };
};
var timeWindow = (size) => ({
  _tag: "TimeWindow",
  size,
  calls: 0,
  failures: 0,
  slow: 0,
  current: void 0,
  older: emptyQueue
});
var secondOf = (now) => Math.floor(now / 1e3);
var slideTime = (w, now) => {
  const current = w.current;
  if (current === void 0) return w;
  const oldest = secondOf(now) - w.size + 1;
  if (current.second < oldest) return timeWindow(w.size);
  let { calls, failures, older, slow } = w;
  for (let node = older.front; node !== void 0 && node.head.second < oldest; node = older.front) {
    calls -= node.head.calls;
    failures -= node.head.failures;
    slow -= node.head.slow;
    older = pop(older);
  }
  return older === w.older ? w : { _tag: "TimeWindow", size: w.size, calls, failures, slow, current, older };
};
var recordTime = (window, now, failed, slow) => {
  const w = slideTime(window, now);
  const f = failed ? 1 : 0;
  const s = slow ? 1 : 0;
  const second = secondOf(now);
  const current = w.current;
  let older = w.older;
  let bucket;
  if (current !== void 0 && current.second >= second) {
    bucket = {
      second: current.second,
      calls: current.calls + 1,
      failures: current.failures + f,
      slow: current.slow + s
    };
  } else {
    if (current !== void 0) older = push(older, current);
    bucket = { second, calls: 1, failures: f, slow: s };
  }
  return {
    _tag: "TimeWindow",
    size: w.size,
    calls: w.calls + 1,
    failures: w.failures + f,
    slow: w.slow + s,
    current: bucket,
    older
  };
};
var record = (w, now, failed, slow) => w._tag === "CountWindow" ? recordCount(w, failed, slow) : recordTime(w, now, failed, slow);
var view = (w, now) => w._tag === "CountWindow" ? w : slideTime(w, now);
var toArray = (queue) => {
  const out = [];
  for (let node = queue.front; node !== void 0; node = node.tail) out.push(node.head);
  const back = [];
  for (let node = queue.back; node !== void 0; node = node.tail) back.push(node.head);
  for (let i = back.length - 1; i >= 0; i--) out.push(back[i]);
  return out;
};
var fromArray = (items) => {
  let front = void 0;
  for (let i = items.length - 1; i >= 0; i--) front = { head: items[i], tail: front };
  return { front, back: void 0 };
};
var isCount = (v) => typeof v === "number" && Number.isInteger(v) && v >= 0;
var toJson = (w) => w._tag === "CountWindow" ? {
  _tag: w._tag,
  size: w.size,
  calls: w.calls,
  failures: w.failures,
  slow: w.slow,
  seq: w.seq,
  marks: toArray(w.marks).map((mark) => [mark.seq, (mark.failed ? 1 : 0) | (mark.slow ? 2 : 0)])
} : {
  _tag: w._tag,
  size: w.size,
  calls: w.calls,
  failures: w.failures,
  slow: w.slow,
  current: w.current === void 0 ? null : bucketToJson(w.current),
  older: toArray(w.older).map(bucketToJson)
};
var bucketToJson = (b) => [b.second, b.calls, b.failures, b.slow];
var bucketFromJson = (json) => {
  if (!Array.isArray(json) || json.length !== 4 || !json.every((n) => typeof n === "number" && Number.isInteger(n))) {
    return void 0;
  }
  const [second, calls, failures, slow] = json;
  return calls >= 0 && failures >= 0 && slow >= 0 ? { second, calls, failures, slow } : void 0;
};
var fromJson = (json, like) => {
  if (typeof json !== "object" || json === null) return void 0;
  const o = json;
  if (o._tag !== like._tag || o.size !== like.size) return void 0;
  if (!isCount(o.calls) || !isCount(o.failures) || !isCount(o.slow)) return void 0;
  const { calls, failures, slow } = o;
  if (calls > like.size && like._tag === "CountWindow") return void 0;
  if (like._tag === "CountWindow") {
    if (!isCount(o.seq) || !Array.isArray(o.marks) || o.marks.length > like.size) return void 0;
    const marks = [];
    let f2 = 0;
    let s2 = 0;
    for (const item of o.marks) {
      if (!Array.isArray(item) || item.length !== 2 || !isCount(item[0]) || !isCount(item[1])) return void 0;
      const failed = (item[1] & 1) !== 0;
      const isSlow2 = (item[1] & 2) !== 0;
      if (failed) f2++;
      if (isSlow2) s2++;
      marks.push({ seq: item[0], failed, slow: isSlow2 });
    }
    if (f2 !== failures || s2 !== slow) return void 0;
    return { _tag: "CountWindow", size: like.size, calls, failures, slow, seq: o.seq, marks: fromArray(marks) };
  }
  if (!Array.isArray(o.older) || o.older.length > like.size) return void 0;
  const current = o.current === null ? void 0 : bucketFromJson(o.current);
  if (o.current !== null && current === void 0) return void 0;
  const older = [];
  let c = current?.calls ?? 0;
  let f = current?.failures ?? 0;
  let s = current?.slow ?? 0;
  for (const item of o.older) {
    const bucket = bucketFromJson(item);
    if (bucket === void 0) return void 0;
    c += bucket.calls;
    f += bucket.failures;
    s += bucket.slow;
    older.push(bucket);
  }
  if (c !== calls || f !== failures || s !== slow) return void 0;
  return { _tag: "TimeWindow", size: like.size, calls, failures, slow, current, older: fromArray(older) };
};
var isWindow = (u) => typeof u === "object" && u !== null && (u._tag === "CountWindow" || u._tag === "TimeWindow");

// packages/core/src/internal/circuitBreakerMachine.ts
var consecutiveFailures = (threshold) => ({
  name: "consecutiveFailures",
  invalid: threshold === Number.POSITIVE_INFINITY || Number.isInteger(threshold) && threshold >= 1 ? void 0 : `threshold must be an integer >= 1 or Infinity, got ${threshold}`,
  initial: 0,
  usesClock: false,
  slowCallMillis: void 0,
  // returns the same number on a success after a success: nothing to allocate or compare
  record: (failures, call) => call._tag === "Failure" ? failures + 1 : 0,
  check: (failures) => failures >= threshold ? "consecutive-failures" : void 0
});
var isRatio = (v) => typeof v === "number" && Number.isFinite(v) && v > 0 && v <= 1;
var isPositiveInt = (v) => typeof v === "number" && Number.isInteger(v) && v >= 1;
var MAX_COUNT_WINDOW = 1e6;
var MAX_TIME_WINDOW = 86400;
var invalidRates = (options) => {
  if (typeof options !== "object" || options === null) return "options must be an object";
  const spec = options.window ?? { calls: 100 };
  if (typeof spec !== "object" || spec === null) return "window must be { calls } or { seconds }";
  const isCount2 = "calls" in spec;
  const size = isCount2 ? spec.calls : spec.seconds;
  if (!isPositiveInt(size)) return `window size must be an integer >= 1, got ${size}`;
  if (size > (isCount2 ? MAX_COUNT_WINDOW : MAX_TIME_WINDOW)) {
    return isCount2 ? `window must be at most ${MAX_COUNT_WINDOW} calls` : `window must be at most ${MAX_TIME_WINDOW} s`;
  }
  const minimumCalls = options.minimumCalls;
  if (minimumCalls !== void 0 && !isPositiveInt(minimumCalls)) {
    return `minimumCalls must be an integer >= 1, got ${minimumCalls}`;
  }
  if (isCount2 && minimumCalls !== void 0 && minimumCalls > size) {
    return "minimumCalls must be <= the window's size for a count window";
  }
  if (options.failureRate !== void 0 && !isRatio(options.failureRate)) {
    return `failureRate must be a number in (0, 1], got ${options.failureRate}`;
  }
  if (options.slowCallRate !== void 0 && !isRatio(options.slowCallRate)) {
    return `slowCallRate must be a number in (0, 1], got ${options.slowCallRate}`;
  }
  if (options.slowerThan !== void 0) {
    const slowerThan = Duration2.decodeUnknown(options.slowerThan);
    if (Option2.isNone(slowerThan) || !Duration2.isFinite(slowerThan.value) || Duration2.toMillis(slowerThan.value) <= 0) {
      return "slowerThan must be a finite Duration > 0";
    }
  }
  return void 0;
};
var rates = (input) => {
  const invalid3 = invalidRates(input);
  const options = invalid3 === void 0 ? input : { window: { calls: 1 } };
  const spec = options.window ?? { calls: 100 };
  const isCount2 = "calls" in spec;
  const size = isCount2 ? spec.calls : spec.seconds;
  const minimumCalls = options.minimumCalls ?? (isCount2 ? Math.min(10, size) : 10);
  const { failureRate, slowCallRate } = options;
  const slowCallMillis = slowCallRate === void 0 ? void 0 : Duration2.toMillis(Duration2.decode(options.slowerThan ?? "60 seconds"));
  return {
    name: "rates",
    invalid: invalid3,
    initial: isCount2 ? countWindow(size) : timeWindow(size),
    usesClock: !isCount2,
    slowCallMillis,
    record: (w, call, now) => record(
      w,
      now,
      call._tag === "Failure",
      slowCallMillis !== void 0 && call.durationMillis > slowCallMillis
    ),
    // with no threshold the rule only keeps the window for snapshots
    check: failureRate === void 0 && slowCallRate === void 0 ? () => void 0 : (w, now) => {
      const v = view(w, now);
      if (v.calls < minimumCalls) return void 0;
      if (failureRate !== void 0 && v.failures >= failureRate * v.calls) return "failure-rate";
      if (slowCallRate !== void 0 && v.slow >= slowCallRate * v.calls) return "slow-call-rate";
      return void 0;
    },
    view
  };
};
var initialRules = (config2) => config2.rules.map((rule2) => rule2.initial);
var initial = (config2) => ({
  _tag: "Closed",
  epoch: 0,
  consecutiveFailures: 0,
  trips: 0,
  rules: initialRules(config2)
});
var gaugeValue = (state) => {
  switch (state) {
    case "Closed":
      return 0;
    case "HalfOpen":
      return 1;
    case "Open":
      return 2;
    case "Isolated":
      return 3;
    case "Disabled":
      return 4;
  }
};
var windowView = (config2, state, now) => {
  const rules = config2.rules;
  for (let i = 0; i < rules.length; i++) {
    const view2 = rules[i].view;
    if (view2 === void 0) continue;
    const { calls, failures, slow } = view2(state.rules[i], now);
    return { calls, failures, slow };
  }
  return { calls: 0, failures: 0, slow: 0 };
};
var none2 = [];
var stay = (state) => ({ state, announcements: none2 });
var announce = (from, state, reason, at, admission) => {
  const announcements = [{ from: from._tag, to: state._tag, reason, at }];
  return admission === void 0 ? { state, announcements } : { state, announcements, admission };
};
var open = (config2, from, now, reason, failures) => {
  const trips = from.trips + 1;
  const millis5 = Math.min(config2.resetMillis * Math.pow(config2.backoffFactor, trips - 1), config2.maxResetMillis);
  const state = {
    _tag: "Open",
    epoch: from.epoch + 1,
    consecutiveFailures: failures,
    trips,
    rules: from.rules,
    openedAt: now,
    until: now + millis5
  };
  return announce(from, state, reason, now);
};
var closed = (config2, epoch) => ({
  _tag: "Closed",
  epoch,
  consecutiveFailures: 0,
  trips: 0,
  rules: initialRules(config2)
});
var recordClosed = (config2, state, call, now) => {
  const rules = config2.rules;
  let next;
  let reason;
  for (let i = 0; i < rules.length; i++) {
    const before = state.rules[i];
    const after = rules[i].record(before, call, now);
    if (after !== before) (next ??= state.rules.slice())[i] = after;
    if (reason === void 0) reason = rules[i].check(after, now);
  }
  const failures = call._tag === "Failure" ? state.consecutiveFailures + 1 : 0;
  const recorded = next === void 0 && failures === state.consecutiveFailures ? state : { _tag: "Closed", epoch: state.epoch, consecutiveFailures: failures, trips: 0, rules: next ?? state.rules };
  return reason === void 0 ? stay(recorded) : open(config2, recorded, now, reason, failures);
};
var halfOpen = (from, epoch) => ({
  _tag: "HalfOpen",
  epoch,
  consecutiveFailures: from.consecutiveFailures,
  trips: from.trips,
  rules: from.rules,
  openedAt: from.openedAt,
  probes: 0,
  successes: 0
});
var withProbes = (state, probes, successes, failures) => ({
  ...state,
  probes,
  successes,
  consecutiveFailures: failures
});
var admit = (config2, state, now) => {
  switch (state._tag) {
    case "Closed":
    case "Disabled":
      return { state, announcements: none2, admission: { _tag: "Admitted", epoch: state.epoch, probe: false } };
    case "Isolated":
      return {
        state,
        announcements: none2,
        admission: { _tag: "Rejected", state: "Isolated", retryAfterMillis: Number.POSITIVE_INFINITY }
      };
    case "Open": {
      if (now < state.until) {
        return {
          state,
          announcements: none2,
          admission: { _tag: "Rejected", state: "Open", retryAfterMillis: state.until - now }
        };
      }
      const probing = withProbes(halfOpen(state, state.epoch + 1), 1, 0, state.consecutiveFailures);
      return announce(state, probing, "reset-timeout-elapsed", now, {
        _tag: "Admitted",
        epoch: probing.epoch,
        probe: true
      });
    }
    case "HalfOpen":
      return state.probes >= config2.halfOpenMaxProbes ? { state, announcements: none2, admission: { _tag: "Rejected", state: "HalfOpen", retryAfterMillis: 0 } } : {
        state: withProbes(state, state.probes + 1, state.successes, state.consecutiveFailures),
        announcements: none2,
        admission: { _tag: "Admitted", epoch: state.epoch, probe: true }
      };
  }
};
var isSlow = (config2, call) => config2.slowCallMillis !== void 0 && call.durationMillis > config2.slowCallMillis;
var recordProbe = (config2, state, event2, now) => {
  const probes = state.probes - 1;
  switch (event2._tag) {
    case "Ignored":
      return stay(withProbes(state, probes, state.successes, state.consecutiveFailures));
    case "Failure":
      return open(config2, state, now, "probe-failed", state.consecutiveFailures + 1);
    case "Success": {
      if (isSlow(config2, event2)) return open(config2, state, now, "probe-slow", state.consecutiveFailures);
      const successes = state.successes + 1;
      return successes >= config2.successThreshold ? announce(state, closed(config2, state.epoch + 1), "probe-succeeded", now) : stay(withProbes(state, probes, successes, 0));
    }
  }
};
var carriedOver = (state) => ({
  epoch: state.epoch + 1,
  consecutiveFailures: state.consecutiveFailures,
  trips: state.trips,
  rules: state.rules
});
var transition = (state, event2, now, config2) => {
  switch (event2._tag) {
    case "Success":
    case "Failure":
    case "Ignored": {
      if (event2.epoch !== state.epoch) return stay(state);
      if (state._tag === "Closed") {
        return event2._tag === "Ignored" ? stay(state) : recordClosed(config2, state, event2, now);
      }
      return state._tag === "HalfOpen" ? recordProbe(config2, state, event2, now) : stay(state);
    }
    case "Admit":
      return admit(config2, state, now);
    case "Tick":
      return state._tag === "Open" && now >= state.until ? announce(state, halfOpen(state, state.epoch + 1), "reset-timeout-elapsed", now) : stay(state);
    case "Isolate":
      return state._tag === "Isolated" ? stay(state) : announce(state, { _tag: "Isolated", ...carriedOver(state), openedAt: now }, "isolated", now);
    case "Disable":
      return state._tag === "Disabled" ? stay(state) : announce(state, { _tag: "Disabled", ...carriedOver(state) }, "disabled", now);
    case "Reset":
      return state._tag === "Closed" ? stay(closed(config2, state.epoch)) : announce(state, closed(config2, state.epoch + 1), "reset", now);
  }
};
var encodeRule = (rule2) => isWindow(rule2) ? toJson(rule2) : rule2;
var encodeState = (state) => {
  const common = {
    _tag: state._tag,
    epoch: state.epoch,
    consecutiveFailures: state.consecutiveFailures,
    trips: state.trips,
    rules: state.rules.map(encodeRule)
  };
  switch (state._tag) {
    case "Closed":
    case "Disabled":
      return common;
    case "Open":
      return { ...common, openedAt: state.openedAt, until: state.until };
    case "HalfOpen":
      return { ...common, openedAt: state.openedAt, probes: state.probes, successes: state.successes };
    case "Isolated":
      return { ...common, openedAt: state.openedAt };
  }
};
var isNat = (u) => typeof u === "number" && Number.isSafeInteger(u) && u >= 0;
var isTime = (u) => typeof u === "number" && Number.isFinite(u);
var decodeRule = (json, initialState) => {
  if (typeof initialState === "number") return isTime(json) ? { ok: true, value: json } : { ok: false };
  if (isWindow(initialState)) {
    const w = fromJson(json, initialState);
    return w === void 0 ? { ok: false } : { ok: true, value: w };
  }
  return json === void 0 ? { ok: false } : { ok: true, value: json };
};
var decodeState = (config2, json) => {
  if (typeof json !== "object" || json === null) return "not an object";
  const o = json;
  if (!isNat(o.epoch) || !isNat(o.consecutiveFailures) || !isNat(o.trips)) {
    return "epoch, consecutiveFailures and trips must be integers >= 0";
  }
  if (!Array.isArray(o.rules) || o.rules.length !== config2.rules.length) {
    return `rules must be an array of ${config2.rules.length} rule states`;
  }
  const rules = [];
  for (let i = 0; i < config2.rules.length; i++) {
    const rule2 = decodeRule(o.rules[i], config2.rules[i].initial);
    if (!rule2.ok) return `rules[${i}] is not a state of rule ${config2.rules[i].name} as configured`;
    rules.push(rule2.value);
  }
  const common = { epoch: o.epoch, consecutiveFailures: o.consecutiveFailures, trips: o.trips, rules };
  switch (o._tag) {
    case "Closed":
    case "Disabled":
      return { _tag: o._tag, ...common };
    case "Open":
      return isTime(o.openedAt) && isTime(o.until) ? { _tag: "Open", ...common, openedAt: o.openedAt, until: o.until } : "Open needs openedAt and until";
    case "HalfOpen":
      return isTime(o.openedAt) && Number.isSafeInteger(o.probes) && Number.isSafeInteger(o.successes) ? {
        _tag: "HalfOpen",
        ...common,
        openedAt: o.openedAt,
        probes: o.probes,
        successes: o.successes
      } : "HalfOpen needs openedAt, probes and successes";
    case "Isolated":
      return isTime(o.openedAt) ? { _tag: "Isolated", ...common, openedAt: o.openedAt } : "Isolated needs openedAt";
    default:
      return `unknown state ${String(o._tag)}`;
  }
};

// packages/core/src/internal/options.ts
import * as Duration3 from "effect/Duration";
import * as Effect from "effect/Effect";
import * as Either from "effect/Either";
import * as Option3 from "effect/Option";
import * as ParseResult from "effect/ParseResult";
import * as Predicate2 from "effect/Predicate";
import * as Schema2 from "effect/Schema";
import * as AST from "effect/SchemaAST";
var rule = (message) => ({ message: () => ({ message, override: true }) });
var show = (value) => {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === void 0) {
    return String(value);
  }
  if (typeof value === "bigint") return `${value}n`;
  if (Duration3.isDuration(value)) return Duration3.format(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
};
var invalid = (policy, option, value, rule2) => new InvalidOptionsError({ policy, option, value: show(value), rule: rule2 });
var valueAt = (root, path) => {
  let current = root;
  for (const segment of path) {
    if (!Predicate2.isObject(current)) return void 0;
    current = current[segment];
  }
  return current;
};
var ruleOf = (issue) => issue._tag === "Missing" ? "is required" : issue.message;
var toInvalidOptions = (policy, input, error, prefix = []) => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0];
  const path = [...prefix, ...issue.path.map(String)];
  return path.length === 0 ? invalid(policy, "options", input, "must be an object") : invalid(policy, path.join("."), valueAt(input, issue.path), ruleOf(issue));
};
var decoder = (policy, schema) => {
  const decode3 = Schema2.decodeUnknownEither(schema, { errors: "first" });
  return (input) => {
    const result = decode3(input);
    return Either.isRight(result) ? Effect.succeed(result.right) : Effect.fail(toInvalidOptions(policy, input, result.left));
  };
};
var numberRule = (holds, message) => Schema2.Number.pipe(Schema2.filter(holds)).annotations(rule(message));
var PositiveInt = numberRule((n) => Number.isInteger(n) && n >= 1, "must be an integer >= 1");
var NonNegativeInt = numberRule((n) => Number.isInteger(n) && n >= 0, "must be an integer >= 0");
var PositiveNumber = numberRule((n) => Number.isFinite(n) && n > 0, "must be a finite number > 0");
var NonNegativeNumber = numberRule((n) => Number.isFinite(n) && n >= 0, "must be a finite number >= 0");
var Ratio = numberRule((n) => Number.isFinite(n) && n > 0 && n <= 1, "must be a number in (0, 1]");
var Factor = numberRule((n) => Number.isFinite(n) && n >= 1, "must be a finite number >= 1");
var intInRange = (min, max) => numberRule((n) => Number.isInteger(n) && n >= min && n <= max, `must be an integer in [${min}, ${max}]`);
var FailureThreshold = numberRule(
  (n) => n === Number.POSITIVE_INFINITY || Number.isInteger(n) && n >= 1,
  "must be an integer >= 1"
);
var hasControlCharacter = (value) => {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) < 32) return true;
  }
  return false;
};
var Name = Schema2.String.pipe(
  Schema2.filter((s) => s.length > 0 && s.length <= 256 && !hasControlCharacter(s))
).annotations(rule("must be a non-empty string of at most 256 printable characters"));
var PrintableName = Schema2.String.pipe(
  Schema2.pattern(/^[\x21\x23-\x5b\x5d-\x7e][\x20\x21\x23-\x5b\x5d-\x7e]{0,255}$/)
).annotations(rule("must be 1-256 printable characters without quotes or backslashes"));
var HeaderName = Schema2.String.pipe(
  Schema2.filter((s) => s.length <= 256 && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(s))
).annotations(rule("must be an HTTP header name (an RFC 9110 token)"));
var WindowType = Schema2.Literal("count", "time").annotations(rule('must be "count" or "time"'));
var Mode = Schema2.Literal("fail", "wait").annotations(rule('must be "fail" or "wait"'));
var JITTER_RULE = 'must be one of "full", "equal", "decorrelated", "none"';
var Jitter = Schema2.Literal("full", "equal", "decorrelated", "none").annotations(rule(JITTER_RULE));
var Probability = numberRule((n) => Number.isFinite(n) && n >= 0 && n <= 1, "must be a number in [0, 1]");
var Percentile = numberRule((n) => Number.isFinite(n) && n > 0 && n < 100, "must be a number in (0, 100)");
var Flag = Schema2.Boolean.annotations(rule("must be true or false"));
var AnyFunction = Schema2.declare(
  (u) => typeof u === "function"
).annotations(rule("must be a function"));
var ErrorSelector = Schema2.Union(
  Schema2.Array(Schema2.Union(Schema2.String, AnyFunction)),
  AnyFunction
).annotations(rule("must be a list of tags and error classes, or a predicate"));
var durationRule = (holds, message) => Schema2.DurationFromSelf.pipe(Schema2.filter(holds)).annotations(rule(message));
var millisOf = (d) => Duration3.toMillis(d);
var PositiveDuration = durationRule(
  (d) => Duration3.isFinite(d) && millisOf(d) > 0,
  "must be a finite duration > 0"
);
var NonNegativeDuration = durationRule((d) => Duration3.isFinite(d), "must be a finite duration >= 0");
var PositiveOrInfiniteDuration = durationRule((d) => millisOf(d) > 0, "must be a duration > 0");
var AtLeastOneSecond = durationRule(
  (d) => Duration3.isFinite(d) && millisOf(d) >= 1e3,
  "must be a finite duration of at least 1 second"
);
var NEGATIVE = "must be >= 0";
var DURATION_INPUT_RULE = 'must be a Duration (e.g. "5 seconds" or millis)';
var DURATION_TEXT_RULE = 'must be a duration > 0 with a unit, e.g. "10 seconds", "10s" or "500ms"';
var isNegative = (input) => typeof input === "number" && input < 0 || typeof input === "bigint" && input < BigInt(0) || typeof input === "string" && input.trimStart().startsWith("-") || Array.isArray(input) && input.some((part) => typeof part === "number" && part < 0);
var DurationInputEncoding = Schema2.transformOrFail(
  Schema2.Union(
    Schema2.Number,
    Schema2.BigIntFromSelf,
    Schema2.String,
    Schema2.DurationFromSelf,
    Schema2.Tuple(Schema2.Number, Schema2.Number)
  ).annotations(rule(DURATION_INPUT_RULE)),
  Schema2.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      if (isNegative(input)) return ParseResult.fail(new ParseResult.Type(ast, input, NEGATIVE));
      const decoded = typeof input === "number" && Number.isNaN(input) ? Option3.none() : Duration3.decodeUnknown(input);
      return Option3.isSome(decoded) ? ParseResult.succeed(decoded.value) : ParseResult.fail(new ParseResult.Type(ast, input, DURATION_INPUT_RULE));
    },
    encode: ParseResult.succeed
  }
);
var unitAliases = {
  ms: "millis",
  milli: "millis",
  millisecond: "millis",
  milliseconds: "millis",
  s: "seconds",
  sec: "seconds",
  secs: "seconds",
  m: "minutes",
  min: "minutes",
  mins: "minutes",
  h: "hours"
};
var durationText = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i;
var parseDuration = (input) => {
  const match = durationText.exec(input);
  if (match === null) return void 0;
  const unit = match[2].toLowerCase();
  return Option3.getOrUndefined(Duration3.decodeUnknown(`${match[1]} ${unitAliases[unit] ?? unit}`));
};
var DurationTextEncoding = Schema2.transformOrFail(
  Schema2.Union(Schema2.String, Schema2.DurationFromSelf).annotations(rule(DURATION_TEXT_RULE)),
  Schema2.DurationFromSelf,
  {
    strict: true,
    decode: (input, _, ast) => {
      if (Duration3.isDuration(input)) return ParseResult.succeed(input);
      if (isNegative(input)) return ParseResult.fail(new ParseResult.Type(ast, input, NEGATIVE));
      const d = parseDuration(input);
      return d === void 0 ? ParseResult.fail(new ParseResult.Type(ast, input, DURATION_TEXT_RULE)) : ParseResult.succeed(d);
    },
    encode: (d) => ParseResult.succeed(`${Duration3.toMillis(d)} millis`)
  }
);
var durationOption = (durationRule2) => (
  // The union above is wider than `DurationInput` only in its template-literal strings: the rule decides.
  Schema2.compose(DurationInputEncoding, durationRule2)
);
var optionalDuration = (durationRule2) => Schema2.optional(durationOption(durationRule2));
var maxAtLeast = (max, maxDefault, base, maxKey, baseKey) => {
  const effective = max ?? maxDefault;
  if (effective === void 0 || !Duration3.lessThan(effective, base)) return [];
  const unset = max === void 0 ? `; unset, it defaults to ${Duration3.format(effective)}` : "";
  return [{ path: [maxKey], message: `must be >= ${baseKey} (${Duration3.format(base)})${unset}` }];
};
var MAX_COUNT_WINDOW2 = 1e6;
var MAX_TIME_WINDOW2 = 86400;
var circuitBreakerChecks = (b) => {
  const isCount2 = (b.windowType ?? "count") === "count";
  const maxWindow = isCount2 ? MAX_COUNT_WINDOW2 : MAX_TIME_WINDOW2;
  if (b.windowSize !== void 0 && b.windowSize > maxWindow) {
    return [{ path: ["windowSize"], message: `must be at most ${maxWindow} ${isCount2 ? "calls" : "seconds"}` }];
  }
  if (isCount2 && b.minimumCalls !== void 0 && b.minimumCalls > (b.windowSize ?? 100)) {
    return [{ path: ["minimumCalls"], message: "must be <= windowSize for a count window" }];
  }
  return maxAtLeast(
    b.maxResetTimeout,
    void 0,
    b.resetTimeout ?? Duration3.seconds(30),
    "maxResetTimeout",
    "resetTimeout"
  );
};
var CircuitBreakerOptions = Schema2.Struct({
  service: Name,
  resource: Name,
  failureThreshold: Schema2.optional(FailureThreshold),
  failureRateThreshold: Schema2.optional(Ratio),
  slowCallRateThreshold: Schema2.optional(Ratio),
  slowCallDuration: optionalDuration(PositiveDuration),
  windowType: Schema2.optional(WindowType),
  windowSize: Schema2.optional(PositiveInt),
  minimumCalls: Schema2.optional(PositiveInt),
  resetTimeout: optionalDuration(PositiveDuration),
  resetBackoffFactor: Schema2.optional(Factor),
  maxResetTimeout: optionalDuration(PositiveDuration),
  halfOpenMaxProbes: Schema2.optional(PositiveInt),
  successThreshold: Schema2.optional(PositiveInt)
}).pipe(Schema2.filter(circuitBreakerChecks));
var retryCommonFields = {
  maxDelay: optionalDuration(PositiveDuration),
  maxRetryAfter: optionalDuration(NonNegativeDuration),
  service: Schema2.optional(Name),
  operation: Schema2.optional(Name)
};
var retryChecks = (r) => maxAtLeast(r.maxDelay, Duration3.seconds(60), r.baseDelay ?? Duration3.seconds(1), "maxDelay", "baseDelay");
var RetryOptions = Schema2.Struct({
  maxRetries: Schema2.optional(NonNegativeInt),
  baseDelay: optionalDuration(PositiveDuration),
  factor: Schema2.optional(Factor),
  jitter: Schema2.optional(Jitter),
  ...retryCommonFields
}).pipe(Schema2.filter(retryChecks));
var RetryConstantOptions = Schema2.Struct({
  maxRetries: Schema2.optional(NonNegativeInt),
  ...retryCommonFields
});
var BulkheadOptions = Schema2.Struct({
  name: Name,
  maxConcurrent: Schema2.optional(PositiveInt),
  maxWaiting: Schema2.optional(NonNegativeInt),
  acquireTimeout: optionalDuration(PositiveOrInfiniteDuration)
});
var TimeoutOptions = Schema2.Struct({
  duration: durationOption(PositiveDuration),
  operation: Schema2.optional(Name)
});
var maxCostOf = (r) => {
  const burst = r.burstSize ?? Math.max(1, Math.ceil(r.tokensPerSecond));
  return r.global === void 0 ? burst : Math.min(burst, r.global.burstSize ?? Math.max(1, Math.ceil(r.global.tokensPerSecond)));
};
var RateLimiterOptions = Schema2.Struct({
  name: Name,
  tokensPerSecond: PositiveNumber,
  burstSize: Schema2.optional(PositiveInt),
  cost: Schema2.optional(PositiveNumber),
  global: Schema2.optional(Schema2.Struct({ tokensPerSecond: PositiveNumber, burstSize: Schema2.optional(PositiveInt) })),
  mode: Schema2.optional(Mode),
  maxWait: optionalDuration(PositiveDuration)
}).pipe(Schema2.filter((r) => {
  const maxCost = maxCostOf(r);
  return r.cost !== void 0 && r.cost > maxCost ? { path: ["cost"], message: `must be <= burstSize (${maxCost}), or no call is ever admitted` } : void 0;
}));
var RetryBudgetOptions = Schema2.Struct({
  ratio: Schema2.optional(Ratio),
  minRetriesPerSecond: Schema2.optional(NonNegativeNumber),
  window: optionalDuration(AtLeastOneSecond)
});
var JitterSetting = Schema2.transform(
  Schema2.Union(Jitter, Schema2.Boolean).annotations(rule(`${JITTER_RULE} (or true / false)`)),
  Jitter,
  {
    strict: true,
    decode: (input) => input === true ? "full" : input === false ? "none" : input,
    encode: (jitter) => jitter
  }
);
var MachineOptions = CircuitBreakerOptions.from.pick(
  "resetTimeout",
  "resetBackoffFactor",
  "maxResetTimeout",
  "halfOpenMaxProbes",
  "successThreshold"
).pipe(Schema2.filter(circuitBreakerChecks));
var SharedCircuitBreakerOptions = Schema2.Struct({
  instanceId: Schema2.optional(PrintableName),
  quorum: Schema2.optional(Schema2.Struct({
    instances: Schema2.optional(intInRange(1, 1e3)),
    window: optionalDuration(PositiveDuration)
  })),
  report: Schema2.optional(Schema2.Struct({
    maxBatch: Schema2.optional(intInRange(1, 1e4)),
    interval: optionalDuration(PositiveDuration),
    maxBuffer: Schema2.optional(intInRange(1, 1e6))
  })),
  storeTimeout: optionalDuration(PositiveDuration),
  ttl: optionalDuration(PositiveDuration),
  probeLease: optionalDuration(PositiveDuration)
});

// packages/core/src/CircuitBreakerMachine.ts
var consecutiveFailures2 = consecutiveFailures;
var rates2 = rates;
var POLICY = "CircuitBreaker";
var decodeOptions = Schema3.decodeUnknownEither(MachineOptions, { errors: "first" });
var config = (options) => Either2.gen(function* () {
  const rules = options.rules ?? [consecutiveFailures2(5)];
  if (!Array.isArray(rules)) {
    return yield* Either2.left(
      new InvalidOptionsError({ policy: POLICY, option: "rules", value: String(rules), rule: "must be an array" })
    );
  }
  for (let i = 0; i < rules.length; i++) {
    const rule2 = rules[i];
    const invalid3 = typeof rule2 !== "object" || rule2 === null || typeof rule2.record !== "function" || typeof rule2.check !== "function" ? "must be a TripRule" : rule2.invalid;
    if (invalid3 !== void 0) {
      return yield* Either2.left(
        new InvalidOptionsError({ policy: POLICY, option: `rules[${i}]`, value: String(rule2?.name), rule: invalid3 })
      );
    }
  }
  const decoded = yield* Either2.mapLeft(decodeOptions(options), (error) => toInvalidOptions(POLICY, options, error));
  const resetMillis = Duration4.toMillis(decoded.resetTimeout ?? Duration4.seconds(30));
  const backoffFactor = decoded.resetBackoffFactor ?? 1;
  const maxResetMillis = decoded.maxResetTimeout === void 0 ? Math.max(resetMillis, 5 * 6e4) : Duration4.toMillis(decoded.maxResetTimeout);
  const halfOpenMaxProbes = decoded.halfOpenMaxProbes ?? 1;
  const successThreshold = decoded.successThreshold ?? 1;
  let slowCallMillis;
  for (const rule2 of rules) {
    if (rule2.slowCallMillis !== void 0) {
      slowCallMillis = Math.min(slowCallMillis ?? Infinity, rule2.slowCallMillis);
    }
  }
  return {
    rules,
    resetMillis,
    backoffFactor,
    maxResetMillis,
    halfOpenMaxProbes,
    successThreshold,
    slowCallMillis,
    usesClock: rules.some(
      (rule2) => rule2.usesClock
    )
  };
});
var initial2 = initial;
var transition2 = transition;
var gaugeValue2 = gaugeValue;
var windowView2 = windowView;
var StateDecodeError = class extends Schema3.TaggedError()("StateDecodeError", {
  reason: Schema3.String
}) {
  /** @since 0.3.0 */
  get message() {
    return `Cannot decode a circuit breaker state: ${this.reason}`;
  }
};
var encodeState2 = encodeState;
var decodeState2 = (config2, json) => {
  const decoded = decodeState(config2, json);
  return typeof decoded === "string" ? Either2.left(new StateDecodeError({ reason: decoded })) : Either2.right(decoded);
};

// packages/core/src/internal/telemetry.ts
import * as Cause from "effect/Cause";
import * as Clock from "effect/Clock";
import * as Context from "effect/Context";
import * as DefaultServices from "effect/DefaultServices";
import * as Effect2 from "effect/Effect";
import * as Exit from "effect/Exit";
import * as Metric from "effect/Metric";
import * as MetricBoundaries from "effect/MetricBoundaries";
import * as MetricKey from "effect/MetricKey";
import * as MetricLabel from "effect/MetricLabel";
import * as Option4 from "effect/Option";
import * as Tracer from "effect/Tracer";
var baseLabels = (policy, service, operation) => [
  MetricLabel.make("policy", policy),
  MetricLabel.make("service", service),
  MetricLabel.make("operation", operation)
];
var PREFIX = "resilience_";
var counter2 = (name, description) => MetricKey.counter(`${PREFIX}${name}`, { description, incremental: true });
var delayBuckets = MetricBoundaries.exponential({ start: 5e-3, factor: 2, count: 15 });
var breakerCalls = counter2(
  "circuit_breaker_calls_total",
  "Calls that went through a circuit breaker, by outcome"
);
var breakerRejections = counter2(
  "circuit_breaker_rejections_total",
  "Calls rejected by a circuit breaker, by the state that rejected them"
);
var breakerTransitions = counter2("circuit_breaker_transitions_total", "Circuit breaker state changes");
var breakerState = MetricKey.gauge(`${PREFIX}circuit_breaker_state`, {
  description: "Circuit breaker state: 0 Closed, 1 HalfOpen, 2 Open, 3 Isolated, 4 Disabled"
});
var breakerStoreErrors = counter2(
  "circuit_breaker_store_errors_total",
  "Calls of a fleet-wide breaker to its shared-state store that failed or timed out, by store call"
);
var breakerShared = MetricKey.gauge(`${PREFIX}circuit_breaker_shared`, {
  description: "Fleet-wide breaker: 1 while it shares state through its store, 0 while it runs on its local breaker"
});
var retryAttempts = counter2("retry_attempts_total", "Retries scheduled after a failed attempt");
var retryGiveUps = counter2(
  "retry_give_ups_total",
  "Retryable failures returned to the caller without a further retry, by reason"
);
var retryDelay = MetricKey.histogram(
  `${PREFIX}retry_delay_seconds`,
  delayBuckets,
  "Delay applied before each retry, in seconds"
);
var retryBudgetExhausted = counter2(
  "retry_budget_exhausted_total",
  "Retries a retry budget refused (the retry was given up)"
);
var bulkheadActive = MetricKey.gauge(`${PREFIX}bulkhead_active`, {
  description: "Calls holding a bulkhead permit"
});
var bulkheadWaiting = MetricKey.gauge(`${PREFIX}bulkhead_waiting`, {
  description: "Calls queued for a bulkhead permit"
});
var bulkheadRejections = counter2(
  "bulkhead_rejections_total",
  "Calls rejected by a bulkhead, by reason (full, timeout)"
);
var timeouts = counter2("timeouts_total", "Calls that a Timeout failed with TimeoutError");
var rateLimiterDecisions = counter2(
  "rate_limiter_decisions_total",
  "Rate limiter decisions, by outcome (allowed, waited, rejected)"
);
var hedgeAttempts = counter2("hedge_attempts_total", "Hedged attempts started (not counting the primary)");
var hedgeWins = counter2(
  "hedge_wins_total",
  "Calls that needed the hedging loop, by outcome (primary, hedge: the winner; none: every attempt failed)"
);
var fallbacks = counter2(
  "fallbacks_total",
  "Handled failures of a fallback, by outcome (served, stale, expired, missing)"
);
var faultInjections = counter2(
  "fault_injections_total",
  "Faults injected, by reason: the kind of fault (failure, latency, result)"
);
var Attr = {
  policy: "resilience.policy",
  service: "resilience.service",
  operation: "resilience.operation",
  outcome: "resilience.outcome",
  errorType: "error.type",
  retryAttempt: "resilience.retry.attempt",
  retryDelayMs: "resilience.retry.delay_ms",
  retryReason: "resilience.retry.give_up_reason",
  breakerName: "resilience.circuit_breaker.name",
  breakerState: "resilience.circuit_breaker.state",
  breakerFrom: "resilience.circuit_breaker.from",
  breakerTo: "resilience.circuit_breaker.to",
  retryAfterMs: "resilience.retry_after_ms",
  bulkheadName: "resilience.bulkhead.name",
  bulkheadReason: "resilience.bulkhead.reason",
  bulkheadWaitMs: "resilience.bulkhead.wait_ms",
  bulkheadWaiting: "resilience.bulkhead.waiting",
  timeoutMs: "resilience.timeout.duration_ms",
  rateLimiterName: "resilience.rate_limiter.name",
  rateLimiterAllowed: "resilience.rate_limiter.allowed",
  rateLimiterRemaining: "resilience.rate_limiter.remaining",
  hedgeName: "resilience.hedge.name",
  hedgeAttempt: "resilience.hedge.attempt",
  hedgeDelayMs: "resilience.hedge.delay_ms",
  hedgeWinner: "resilience.hedge.winner",
  hedgeTrigger: "resilience.hedge.trigger",
  fallbackName: "resilience.fallback.name",
  fallbackOutcome: "resilience.fallback.outcome",
  fallbackAgeMs: "resilience.fallback.age_ms",
  faultInjectionName: "resilience.fault_injection.name",
  faultInjectionKind: "resilience.fault_injection.kind"
};
var Event = {
  retry: "resilience.retry",
  retryGiveUp: "resilience.retry.give_up",
  breakerRejected: "resilience.circuit_breaker.rejected",
  breakerStateChange: "resilience.circuit_breaker.state_change",
  bulkheadQueued: "resilience.bulkhead.queued",
  bulkheadAcquired: "resilience.bulkhead.acquired",
  bulkheadRejected: "resilience.bulkhead.rejected",
  timeout: "resilience.timeout",
  rateLimited: "resilience.rate_limiter.decision",
  hedgeAttemptStarted: "resilience.hedge.attempt_started",
  hedgeSettled: "resilience.hedge.settled",
  fallback: "resilience.fallback",
  faultInjected: "resilience.fault_injection.injected"
};
var spanOf = (context) => {
  const parent = Context.getOption(context, Tracer.ParentSpan);
  return parent._tag === "Some" && parent.value._tag === "Span" ? parent.value : void 0;
};
var event = (name, attributes) => Effect2.withFiberRuntime((fiber) => {
  const span = spanOf(fiber.currentContext);
  if (span === void 0) return Effect2.void;
  return Effect2.clockWith(
    (clock2) => Effect2.sync(() => {
      const nanos = clock2.unsafeCurrentTimeNanos();
      span.event(name, nanos, typeof attributes === "function" ? attributes(Number(nanos / 1000000n)) : attributes);
    })
  );
});

// packages/core/src/internal/validate.ts
import * as Effect3 from "effect/Effect";
import * as Either3 from "effect/Either";
import * as Schema4 from "effect/Schema";
var invalid2 = invalid;
var fail4 = (policy, option, value, rule2) => Effect3.fail(invalid2(policy, option, value, rule2));
var check = (rule2) => {
  const decode3 = Schema4.decodeUnknownEither(rule2, { errors: "first" });
  return (policy, option, value) => {
    const result = decode3(value);
    return Either3.isRight(result) ? Effect3.succeed(result.right) : Effect3.fail(toInvalidOptions(policy, value, result.left, [option]));
  };
};
var withFallback = (rule2) => {
  const run = check(rule2);
  return (policy, option, value, fallback) => run(policy, option, value ?? fallback);
};
var positiveInt = withFallback(PositiveInt);
var nonNegativeInt = withFallback(NonNegativeInt);
var positiveNumber = withFallback(PositiveNumber);
var ratio = withFallback(Ratio);
var positiveDuration = check(durationOption(PositiveDuration));
var nonNegativeDuration = check(durationOption(NonNegativeDuration));
var nameCheck = check(Name);
var headerNameCheck = check(HeaderName);
var printableNameCheck = check(PrintableName);

// packages/core/src/internal/circuitBreaker.ts
var POLICY2 = "CircuitBreaker";
var callsTotal = Metric2.fromMetricKey(breakerCalls);
var rejectionsTotal = Metric2.fromMetricKey(breakerRejections);
var transitionsTotal = Metric2.fromMetricKey(breakerTransitions);
var stateGauge = Metric2.fromMetricKey(breakerState);
var decodeOptions2 = decoder(POLICY2, CircuitBreakerOptions);
var optionalFunction = (option, value) => value === void 0 || typeof value === "function" ? Effect4.succeed(value) : fail4(POLICY2, option, value, "must be a function");
var ruleOptions = [
  "failureThreshold",
  "failureRateThreshold",
  "slowCallRateThreshold",
  "slowCallDuration",
  "windowType",
  "windowSize",
  "minimumCalls"
];
var rulesOf = (options) => {
  const isCount2 = (options.windowType ?? "count") === "count";
  const windowSize = options.windowSize ?? (isCount2 ? 100 : 60);
  return [
    consecutiveFailures2(options.failureThreshold ?? 5),
    rates2({
      window: isCount2 ? { calls: windowSize } : { seconds: windowSize },
      minimumCalls: options.minimumCalls ?? (isCount2 ? Math.min(10, windowSize) : 10),
      failureRate: options.failureRateThreshold,
      slowCallRate: options.slowCallRateThreshold,
      slowerThan: options.slowCallDuration ?? "60 seconds"
    })
  ];
};
var resolve = (options) => Effect4.gen(function* () {
  if (typeof options !== "object" || options === null) {
    return yield* fail4(POLICY2, "options", options, "must be an object");
  }
  const mixed = options.rules === void 0 ? void 0 : ruleOptions.find((option) => options[option] !== void 0);
  if (mixed !== void 0) {
    return yield* fail4(POLICY2, "rules", mixed, `cannot be combined with ${mixed}: put that rule in rules`);
  }
  const decoded = yield* decodeOptions2(options);
  const rules = options.rules ?? rulesOf(decoded);
  const machine = yield* config({
    rules,
    resetTimeout: decoded.resetTimeout,
    resetBackoffFactor: decoded.resetBackoffFactor,
    maxResetTimeout: decoded.maxResetTimeout,
    halfOpenMaxProbes: decoded.halfOpenMaxProbes,
    successThreshold: decoded.successThreshold
  });
  const isFailure = yield* optionalFunction("isFailure", options.isFailure);
  const onStateChange = yield* optionalFunction("onStateChange", options.onStateChange);
  const { resource, service } = decoded;
  return { name: `${service}/${resource}`, service, resource, machine, isFailure, onStateChange };
});
var SUCCESS = 0;
var FAILURE = 1;
var IGNORED = 2;
var INTERRUPTED = 3;
var outcomeNames = ["success", "failure", "ignored", "interrupted"];
var Labels = class {
  breaker;
  outcomes = [
    void 0,
    void 0,
    void 0,
    void 0
  ];
  rejections = void 0;
  constructor(service, resource) {
    this.breaker = baseLabels("circuit_breaker", service, resource);
  }
  outcome(outcome) {
    return this.outcomes[outcome] ??= [...this.breaker, MetricLabel2.make("outcome", outcomeNames[outcome])];
  }
  rejection(state) {
    const rejections = this.rejections ??= /* @__PURE__ */ new Map();
    let labels = rejections.get(state);
    if (labels === void 0) {
      labels = [...this.breaker, MetricLabel2.make("state", state)];
      rejections.set(state, labels);
    }
    return labels;
  }
};
var admitEvent = { _tag: "Admit" };
var tickEvent = { _tag: "Tick" };
var Breaker = class {
  constructor(config2, sink) {
    this.config = config2;
    this.sink = sink;
    this.name = config2.name;
    this.service = config2.service;
    this.resource = config2.resource;
    this.machine = config2.machine;
    this.current = initial2(config2.machine);
    this.execute = this.run.bind(this);
  }
  name;
  service;
  resource;
  machine;
  // the machine's state: replaced only by `apply` (and `recordUntimed`, which runs the same transition)
  current;
  // a Closed state an untimed success of its own epoch left unchanged (see `makeClosedHandlers`)
  steady = void 0;
  // lifetime totals (not part of the machine: they never decide anything)
  successes = 0;
  failures = 0;
  ignored = 0;
  interrupted = 0;
  rejections = 0;
  trips = 0;
  // the Closed state's outcome handlers for the current epoch, made at the first call after it began
  closedHandlers = void 0;
  // transitions whose log line and hook have not run yet, drained in order by one daemon fiber at a time
  pending = [];
  draining = false;
  // Built on first use, not in the constructor: an idle breaker (a registry may hold thousands) then costs a few
  // hundred bytes instead of ~12 KB. A PubSub drops what is published while nobody subscribes, so creating it on
  // the first `events` / `subscribe` access and publishing only once it exists is observably the same.
  labels = void 0;
  hub = void 0;
  eventStream = void 0;
  pubsub() {
    return this.hub ??= Effect4.runSync(PubSub.unbounded());
  }
  get events() {
    return this.eventStream ??= Stream.fromPubSub(this.pubsub());
  }
  get subscribe() {
    return Effect4.suspend(() => PubSub.subscribe(this.pubsub()));
  }
  // The metric labels, built on the first metric update. The state gauge is registered at the same moment (with
  // the current state): a breaker appears in the metrics once it has been used, not when it is made.
  metricLabels() {
    if (this.labels !== void 0) return this.labels;
    const labels = new Labels(this.config.service, this.config.resource);
    this.labels = labels;
    stateGauge.unsafeUpdate(gaugeValue2(this.current._tag), labels.breaker);
    return labels;
  }
  // -- the one place the state changes ----------------------------------------
  apply(event2, now) {
    const transition3 = transition2(this.current, event2, now, this.machine);
    this.current = transition3.state;
    for (const announcement of transition3.announcements) this.publish(announcement);
    return transition3;
  }
  publish(announcement) {
    const { at, from, reason, to } = announcement;
    this.closedHandlers = void 0;
    if (to === "Open") this.trips++;
    const labels = this.metricLabels();
    stateGauge.unsafeUpdate(gaugeValue2(to), labels.breaker);
    transitionsTotal.unsafeUpdate(1, [
      ...labels.breaker,
      MetricLabel2.make("from", from),
      MetricLabel2.make("to", to)
    ]);
    const change = {
      breaker: this.name,
      service: this.service,
      resource: this.resource,
      from,
      to,
      at,
      reason
    };
    if (this.hub !== void 0) this.hub.unsafeOffer(change);
    if (this.sink !== void 0) this.sink(change);
    this.pending.push(change);
  }
  // -- the call path --------------------------------------------------------
  execute;
  run(self) {
    return Effect4.suspend(() => {
      switch (this.current._tag) {
        case "Closed": {
          if (!this.machine.usesClock && this.machine.slowCallMillis === void 0) {
            return Effect4.matchCauseEffect(self, this.closedHandlers ?? this.makeClosedHandlers());
          }
          const epoch = this.current.epoch;
          return Effect4.clockWith((clock2) => this.runClosedTimed(self, epoch, clock2));
        }
        case "Disabled":
          return self;
        default:
          return this.guarded(self);
      }
    });
  }
  /**
   * Synchronous admission for a fused policy stack, to be called while the
   * call is being started (inside the caller's own synchronous step, never
   * ahead of time): when the breaker is Closed and times nothing (no time
   * window, no slow-call rule), the outcome handlers of the current
   * epoch; the caller runs `Effect.matchCauseEffect(effect, handlers)`
   * itself, which is exactly what `execute` would run, minus its suspend step.
   * `undefined`: use `execute` (Disabled, or a state or rule that needs it).
   */
  unsafeClosedHandlers() {
    return this.current._tag === "Closed" && !this.machine.usesClock && this.machine.slowCallMillis === void 0 ? this.closedHandlers ?? this.makeClosedHandlers() : void 0;
  }
  // Closed, nothing timed: the rules do not read the clock, so the machine runs at time 0; only when that says the
  // breaker trips is the event applied again at the Clock's time (the transition is pure: same verdict, right time).
  makeClosedHandlers() {
    const epoch = this.current.epoch;
    const success = { _tag: "Success", epoch, durationMillis: 0 };
    const failure = { _tag: "Failure", epoch, durationMillis: 0 };
    return this.closedHandlers = {
      onSuccess: (a) => {
        this.count(SUCCESS);
        if (this.current === this.steady) return Effect4.succeed(a);
        return this.recordUntimed(success, Effect4.succeed(a));
      },
      onFailure: (cause) => {
        const outcome = this.classify(cause);
        this.count(outcome);
        return outcome === FAILURE ? this.recordUntimed(failure, Effect4.failCause(cause)) : Effect4.failCause(cause);
      }
    };
  }
  recordUntimed(event2, exit) {
    const state = this.current;
    const next = transition2(state, event2, 0, this.machine);
    if (next.announcements.length === 0) {
      if (next.state === state && event2._tag === "Success" && event2.epoch === state.epoch) this.steady = state;
      this.current = next.state;
      return exit;
    }
    return Effect4.clockWith((clock2) => {
      this.apply(event2, clock2.unsafeCurrentTimeMillis());
      return this.announceThen(exit);
    });
  }
  // Closed with a time window or the slow-call rule: the call is timed with the fiber's Clock.
  runClosedTimed(self, epoch, clock2) {
    const start = this.machine.slowCallMillis === void 0 ? 0 : clock2.unsafeCurrentTimeMillis();
    return Effect4.matchCauseEffect(self, {
      onSuccess: this.timedSuccess(epoch, clock2, start),
      onFailure: this.timedFailure(epoch, clock2, start)
    });
  }
  // The per-call handlers are returned by methods, never written inline in an object literal: a bundler that keeps
  // function names (tsx, esbuild's keepNames) would otherwise rename each new closure on every call.
  timedSuccess(epoch, clock2, start) {
    return (a) => this.settle(epoch, clock2, start, SUCCESS, Effect4.succeed(a));
  }
  timedFailure(epoch, clock2, start) {
    return (cause) => this.settle(epoch, clock2, start, this.classify(cause), Effect4.failCause(cause));
  }
  // A timed call or a probe ended: count it and tell the machine.
  settle(epoch, clock2, start, outcome, exit) {
    const now = clock2.unsafeCurrentTimeMillis();
    this.count(outcome);
    const durationMillis = now - start;
    this.apply(
      outcome === SUCCESS ? { _tag: "Success", epoch, durationMillis } : outcome === FAILURE ? { _tag: "Failure", epoch, durationMillis } : { _tag: "Ignored", epoch },
      now
    );
    return this.announceThen(exit);
  }
  // Every state but Closed and Disabled: the admission decision and the probe slot it may take are made inside an
  // uninterruptible region, and the probe's outcome handler (which frees the slot) runs even when the probe is
  // interrupted.
  guarded(self) {
    return Effect4.uninterruptibleMask(
      (restore) => Effect4.clockWith((clock2) => {
        const state = this.current._tag;
        if (state === "Disabled") return restore(self);
        if (state === "Closed") {
          return this.machine.usesClock || this.machine.slowCallMillis !== void 0 ? this.runClosedTimed(restore(self), this.current.epoch, clock2) : Effect4.matchCauseEffect(restore(self), this.closedHandlers ?? this.makeClosedHandlers());
        }
        const now = clock2.unsafeCurrentTimeMillis();
        const admission = this.apply(admitEvent, now).admission;
        if (admission._tag === "Rejected") return this.reject(admission);
        const epoch = admission.epoch;
        const probe = Effect4.matchCauseEffect(restore(self), {
          onSuccess: this.timedSuccess(epoch, clock2, now),
          onFailure: this.timedFailure(epoch, clock2, now)
        });
        return this.announceThen(probe);
      })
    );
  }
  reject(admission) {
    this.rejections++;
    rejectionsTotal.unsafeUpdate(1, this.metricLabels().rejection(admission.state));
    const error = new CircuitOpenError({
      breaker: this.name,
      state: admission.state,
      retryAfter: admission.retryAfterMillis === Number.POSITIVE_INFINITY ? Duration5.infinity : Duration5.millis(admission.retryAfterMillis)
    });
    const event2 = event(Event.breakerRejected, {
      [Attr.breakerName]: this.name,
      [Attr.breakerState]: admission.state,
      [Attr.retryAfterMs]: admission.retryAfterMillis
    });
    return this.announceThen(Effect4.zipRight(event2, Effect4.fail(error)));
  }
  classify(cause) {
    const failure = Cause2.failureOption(cause);
    if (Option5.isSome(failure)) {
      const isFailure = this.config.isFailure;
      if (isFailure === void 0) return FAILURE;
      let counts;
      try {
        counts = isFailure(failure.value);
      } catch {
        counts = true;
      }
      if (counts) return FAILURE;
      return Cause2.isDie(cause) ? FAILURE : IGNORED;
    }
    if (Cause2.isDie(cause)) return FAILURE;
    return Cause2.isInterrupted(cause) ? INTERRUPTED : IGNORED;
  }
  count(outcome) {
    switch (outcome) {
      case SUCCESS:
        this.successes++;
        break;
      case FAILURE:
        this.failures++;
        break;
      case IGNORED:
        this.ignored++;
        break;
      case INTERRUPTED:
        this.interrupted++;
        break;
    }
    callsTotal.unsafeUpdate(1, (this.labels ?? this.metricLabels()).outcome(outcome));
  }
  // -- announcing transitions (log line + hook) -------------------------------
  announceThen(effect2) {
    if (this.pending.length === 0 || this.draining) return effect2;
    const events = this.pending.map(
      (change) => event(Event.breakerStateChange, {
        [Attr.breakerName]: change.breaker,
        [Attr.breakerFrom]: change.from,
        [Attr.breakerTo]: change.to
      })
    );
    return Effect4.zipRight(Effect4.zipRight(Effect4.all(events, { discard: true }), this.startDrain()), effect2);
  }
  // Effects built on demand (here and below) rather than held per instance: they are descriptions, rebuilding one
  // costs less than every idle breaker carrying it.
  startDrain() {
    return Effect4.suspend(() => {
      if (this.draining || this.pending.length === 0) return Effect4.void;
      this.draining = true;
      return Effect4.asVoid(Effect4.forkDaemon(Effect4.uninterruptible(this.drain())));
    });
  }
  drain() {
    return Effect4.suspend(() => {
      const change = this.pending.shift();
      if (change === void 0) {
        this.draining = false;
        return Effect4.void;
      }
      return Effect4.zipRight(this.announce(change), this.drain());
    });
  }
  announce(change) {
    const annotations = { breaker: change.breaker, from: change.from, to: change.to, reason: change.reason };
    const message = `Circuit breaker "${change.breaker}": ${change.from} -> ${change.to} (${change.reason})`;
    const log = change.to === "Open" || change.to === "Isolated" ? Effect4.logWarning(message) : Effect4.logInfo(message);
    const hook = this.config.onStateChange;
    const run = hook === void 0 ? log : Effect4.zipRight(
      log,
      Effect4.catchAllCause(
        Effect4.suspend(() => hook(change)),
        (cause) => Effect4.logError(`Circuit breaker "${change.breaker}": onStateChange hook failed`, cause)
      )
    );
    return Effect4.annotateLogs(run, annotations);
  }
  // -- observation and manual control --------------------------------------
  // Apply an event at the Clock's time and announce what it changed.
  command(event2) {
    return Effect4.clockWith((clock2) => {
      this.apply(event2, clock2.unsafeCurrentTimeMillis());
      return this.announceThen(Effect4.void);
    });
  }
  get state() {
    return Effect4.suspend(
      () => this.current._tag === "Open" ? Effect4.zipRight(this.command(tickEvent), Effect4.sync(() => this.current._tag)) : Effect4.succeed(this.current._tag)
    );
  }
  get snapshot() {
    return Effect4.clockWith((clock2) => {
      const now = clock2.unsafeCurrentTimeMillis();
      this.apply(tickEvent, now);
      const state = this.current;
      const w = windowView2(this.machine, state, now);
      const snapshot = {
        name: this.name,
        service: this.service,
        resource: this.resource,
        state: state._tag,
        calls: this.successes + this.failures + this.ignored + this.interrupted,
        successes: this.successes,
        failures: this.failures,
        ignored: this.ignored,
        interrupted: this.interrupted,
        rejections: this.rejections,
        consecutiveFailures: state.consecutiveFailures,
        windowCalls: w.calls,
        failureRate: w.calls === 0 ? 0 : w.failures / w.calls,
        slowCallRate: w.calls === 0 ? 0 : w.slow / w.calls,
        openedAt: "openedAt" in state ? Option5.some(state.openedAt) : Option5.none(),
        nextAttemptAt: state._tag === "Open" ? Option5.some(state.until) : Option5.none(),
        trips: this.trips
      };
      return this.announceThen(Effect4.succeed(snapshot));
    });
  }
  get isolate() {
    return this.command({ _tag: "Isolate" });
  }
  get reset() {
    return this.command({ _tag: "Reset" });
  }
  get disable() {
    return this.command({ _tag: "Disable" });
  }
  // -- waiting for a state ------------------------------------------------------
  // Wait until `done` holds for the state. Subscribed before the first look, so no change slips between a look and
  // the wait; while Open, the wait also ends at the reset time, where looking performs the Open → HalfOpen step.
  waitFor(done, tick) {
    return Effect4.scoped(Effect4.gen(this, function* () {
      const changes = yield* this.subscribe;
      while (true) {
        if (tick) yield* this.command(tickEvent);
        yield* Queue.takeAll(changes);
        const state = this.current;
        if (done(state)) return;
        if (state._tag === "Open") {
          const now = yield* Clock3.currentTimeMillis;
          yield* Effect4.raceFirst(Effect4.sleep(Math.max(0, state.until - now)), Queue.take(changes));
        } else {
          yield* Queue.take(changes);
        }
      }
    }));
  }
  awaitState(state) {
    return this.waitFor((current) => current._tag === state, true);
  }
  get awaitClosed() {
    return this.awaitState("Closed");
  }
  /**
   * The live Open → HalfOpen step: waits for each reset time and performs the
   * transition then, with no call needed (runs until interrupted).
   */
  get liveHalfOpen() {
    return Effect4.andThen(this.waitFor(() => false, true), Effect4.never);
  }
  /** The machine's state now, read synchronously by the shared breaker (no Open → HalfOpen step). */
  get unsafeState() {
    return this.current;
  }
  /** How a call's cause counts (0 success, 1 failure, 2 ignored, 3 interrupted), for the shared breaker. */
  outcomeOf(cause) {
    return this.classify(cause);
  }
  /** Lifetime failures, read synchronously by the registry. */
  get failureCount() {
    return this.failures;
  }
};
var makeWith = (options, sink) => Effect4.map(
  resolve(options),
  (config2) => new Breaker(config2, sink)
);
var make3 = (options) => makeWith(options);
var makeScoped = (options) => Effect4.tap(
  makeWith(options),
  (breaker) => options.liveHalfOpen === true ? Effect4.forkScoped(breaker.liveHalfOpen) : Effect4.void
);

// packages/core/src/CircuitBreaker.ts
var OptionsSchema = CircuitBreakerOptions;
var make4 = make3;
var makeScoped2 = makeScoped;
var withCircuitBreaker = dual(
  2,
  (self, breaker) => breaker.execute(self)
);
var callsTotal2 = callsTotal;
var rejectionsTotal2 = rejectionsTotal;
var transitionsTotal2 = transitionsTotal;
var stateGauge2 = stateGauge;

// packages/core/src/CircuitBreakerStore.ts
var CircuitBreakerStore_exports = {};
__export(CircuitBreakerStore_exports, {
  CircuitBreakerStore: () => CircuitBreakerStore,
  CircuitBreakerStoreError: () => CircuitBreakerStoreError,
  layerMemory: () => layerMemory,
  makeMemory: () => makeMemory2
});
import * as Context2 from "effect/Context";
import * as Layer from "effect/Layer";
import * as Schema5 from "effect/Schema";

// packages/core/src/internal/circuitBreakerStore.ts
import * as Duration6 from "effect/Duration";
import * as Effect5 from "effect/Effect";
import * as Option6 from "effect/Option";
import * as PubSub2 from "effect/PubSub";
import * as Stream2 from "effect/Stream";
var POLICY3 = "CircuitBreakerStore";
var DEFAULT_MAX_KEYS = 1e4;
var PUSH_BUFFER = 64;
var storeError = (operation, message) => new CircuitBreakerStoreError({ operation, message });
var makeMemory = (options = {}) => Effect5.map(positiveInt(POLICY3, "maxKeys", options.maxKeys, DEFAULT_MAX_KEYS), (maxKeys) => {
  const entries = /* @__PURE__ */ new Map();
  const watched = /* @__PURE__ */ new Map();
  const live = (key, now) => {
    const stored = entries.get(key);
    if (stored === void 0) return void 0;
    if (stored.expiresAt > now) return stored;
    entries.delete(key);
    return void 0;
  };
  const entryOf = (stored) => stored === void 0 ? Option6.none() : Option6.some({ version: stored.version, value: stored.value });
  const hasRoom = (now) => {
    if (entries.size < maxKeys) return true;
    for (const [key, stored] of entries) if (stored.expiresAt <= now) entries.delete(key);
    return entries.size < maxKeys;
  };
  const read = (key) => Effect5.clockWith(
    (clock2) => Effect5.sync(() => {
      const now = clock2.unsafeCurrentTimeMillis();
      return { entry: entryOf(live(key, now)), now };
    })
  );
  const compareAndSet = (key, expectedVersion, value, ttl) => Effect5.clockWith(
    (clock2) => Effect5.suspend(() => {
      const ttlMillis = Duration6.toMillis(Duration6.decode(ttl));
      if (!(ttlMillis > 0) || !Number.isFinite(ttlMillis)) {
        return Effect5.fail(storeError("compareAndSet", "ttl must be a finite duration > 0"));
      }
      const now = clock2.unsafeCurrentTimeMillis();
      const current = live(key, now);
      if ((current?.version ?? 0) !== expectedVersion) {
        return Effect5.succeed({ _tag: "Conflict", current: entryOf(current), now });
      }
      if (current === void 0 && !hasRoom(now)) {
        return Effect5.fail(storeError("compareAndSet", `the memory store holds its maximum of ${maxKeys} keys`));
      }
      const version = expectedVersion + 1;
      entries.set(key, { version, value, expiresAt: now + ttlMillis });
      const watch = watched.get(key);
      if (watch !== void 0) watch.pubsub.unsafeOffer({ version, value });
      return Effect5.succeed({ _tag: "Written", version, now });
    })
  );
  const changes = (key) => Effect5.gen(function* () {
    let watch = watched.get(key);
    if (watch === void 0) {
      if (watched.size >= maxKeys) {
        return yield* Effect5.fail(storeError("changes", `the memory store watches its maximum of ${maxKeys} keys`));
      }
      watch = { pubsub: yield* PubSub2.sliding(PUSH_BUFFER), subscribers: 0 };
      watched.set(key, watch);
    }
    const w = watch;
    w.subscribers++;
    yield* Effect5.addFinalizer(
      () => Effect5.sync(() => {
        if (--w.subscribers === 0 && watched.get(key) === w) watched.delete(key);
      })
    );
    const queue = yield* PubSub2.subscribe(w.pubsub);
    return Stream2.fromQueue(queue);
  });
  return CircuitBreakerStore.of({ read, compareAndSet, changes });
});

// packages/core/src/CircuitBreakerStore.ts
var CircuitBreakerStoreError = class extends Schema5.TaggedError()(
  "CircuitBreakerStoreError",
  {
    operation: Schema5.String,
    message: Schema5.String,
    cause: Schema5.optional(Schema5.Defect)
  }
) {
};
var CircuitBreakerStore = class extends Context2.Tag("@effect-resilience/core/CircuitBreakerStore")() {
};
var makeMemory2 = makeMemory;
var layerMemory = (options) => Layer.effect(CircuitBreakerStore, makeMemory(options));

// packages/core/src/internal/sharedCircuitBreaker.ts
import * as Deferred from "effect/Deferred";
import * as Duration7 from "effect/Duration";
import * as Effect6 from "effect/Effect";
import * as Metric3 from "effect/Metric";
import * as MetricLabel3 from "effect/MetricLabel";
import * as Option7 from "effect/Option";
import * as PubSub3 from "effect/PubSub";
import * as Queue2 from "effect/Queue";
import * as Stream3 from "effect/Stream";
var POLICY4 = "SharedCircuitBreaker";
var storeErrorsTotal = Metric3.fromMetricKey(breakerStoreErrors);
var sharedGauge = Metric3.fromMetricKey(breakerShared);
var MAX_FAILING = 1e3;
var MAX_ATTEMPTS = 5;
var encodeFleet = (fleet) => JSON.stringify({
  v: 1,
  state: encodeState2(fleet.state),
  failing: fleet.failing,
  change: fleet.change === void 0 ? null : [fleet.change.from, fleet.change.to, fleet.change.reason, fleet.change.at],
  probedAt: fleet.probedAt ?? null
});
var stateNames = ["Closed", "Open", "HalfOpen", "Isolated", "Disabled"];
var decodeFleet = (config2, entry) => {
  if (Option7.isNone(entry)) return { version: 0, state: initial2(config2), failing: [], change: void 0 };
  const version = entry.value.version;
  const initialFleet = { version, state: initial2(config2), failing: [], change: void 0 };
  let json;
  try {
    json = JSON.parse(entry.value.value);
  } catch {
    return initialFleet;
  }
  if (typeof json !== "object" || json === null || json.v !== 1) return initialFleet;
  const o = json;
  const state = decodeState2(config2, o.state);
  if (state._tag === "Left") return initialFleet;
  const failing = [];
  if (Array.isArray(o.failing)) {
    for (const item of o.failing.slice(0, MAX_FAILING)) {
      if (Array.isArray(item) && typeof item[0] === "string" && typeof item[1] === "number" && typeof item[2] === "number") failing.push([item[0], item[1], item[2]]);
    }
  }
  let change;
  const c = o.change;
  if (Array.isArray(c) && stateNames.includes(c[0]) && stateNames.includes(c[1]) && typeof c[2] === "string" && typeof c[3] === "number") change = { from: c[0], to: c[1], reason: c[2], at: c[3] };
  const probedAt = typeof o.probedAt === "number" ? o.probedAt : void 0;
  return { version, state: state.right, failing, change, probedAt };
};
var decodeShared = decoder(POLICY4, SharedCircuitBreakerOptions);
var millis4 = (d, fallback) => d === void 0 ? fallback : Duration7.toMillis(d);
var randomInstanceId = () => {
  const crypto = globalThis.crypto;
  return crypto?.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
};
var resolveFleet = (options, machine) => Effect6.flatMap(decodeShared(options), (decoded) => {
  const maxReset = machine?.maxResetMillis ?? 0;
  let windowMillis = 0;
  for (const rule2 of machine?.rules ?? []) {
    const initial3 = rule2.initial;
    if (typeof initial3 === "object" && initial3 !== null && initial3._tag === "TimeWindow") {
      windowMillis = Math.max(windowMillis, initial3.size * 1e3);
    }
  }
  const ttlMillis = millis4(decoded.ttl, 2 * Math.max(maxReset, windowMillis, 6e4));
  if (machine !== void 0 && ttlMillis <= maxReset) {
    return Effect6.fail(
      invalid(POLICY4, "ttl", decoded.ttl, "must be longer than the breaker's maxResetTimeout")
    );
  }
  return Effect6.succeed({
    instanceId: decoded.instanceId ?? randomInstanceId(),
    quorum: decoded.quorum?.instances ?? 2,
    quorumWindowMillis: millis4(decoded.quorum?.window, Math.max(windowMillis, 6e4)),
    maxBatch: decoded.report?.maxBatch ?? 100,
    intervalMillis: millis4(decoded.report?.interval, 100),
    maxBuffer: decoded.report?.maxBuffer ?? 1e4,
    storeTimeoutMillis: millis4(decoded.storeTimeout, 250),
    ttlMillis,
    probeLeaseMillis: millis4(decoded.probeLease, Math.max(machine?.resetMillis ?? 0, 1e4))
  });
});
var FAILURE2 = 1;
var SUCCESS2 = 0;
var admitEvent2 = { _tag: "Admit" };
var SharedBreaker = class {
  constructor(local, config2, store, sink) {
    this.local = local;
    this.config = config2;
    this.store = store;
    this.sink = sink;
    this.name = local.name;
    this.service = local.service;
    this.resource = local.resource;
    this.machine = local.config.machine;
    this.fleet = { version: 0, state: initial2(this.machine), failing: [], change: void 0 };
    this.labels = baseLabels("circuit_breaker", this.service, this.resource);
    this.fleetLabels = [...this.labels, MetricLabel3.make("scope", "fleet")];
    this.wake = Effect6.runSync(Queue2.sliding(1));
    this.announcements = Effect6.runSync(Queue2.sliding(256));
    this.execute = this.run.bind(this);
  }
  name;
  service;
  resource;
  execute;
  machine;
  labels;
  fleetLabels;
  // the fleet's state as last seen, and the store's clock minus ours (from the last reply)
  fleet;
  offset = 0;
  mode = "shared";
  // outcomes of calls admitted while the fleet was Closed, waiting for the next batch (times: our clock, NaN: "at
  // the batch's time", for breakers whose rules read no clock)
  outcomes = [];
  outcomeTimes = [];
  dropped = 0;
  wake;
  announcements;
  // at most one probe-slot request in flight per instance
  probing = false;
  // the fused Closed handlers: built per (local handlers, fleet epoch)
  fusedFor = void 0;
  fusedEpoch = -1;
  fused = void 0;
  hub = void 0;
  // -- events ---------------------------------------------------------------------
  pubsub() {
    return this.hub ??= Effect6.runSync(PubSub3.unbounded());
  }
  /** Where the local breaker's changes go: this breaker's subscribers and the registry's. */
  forward = (change) => {
    if (this.hub !== void 0) this.hub.unsafeOffer(change);
    if (this.sink !== void 0) this.sink(change);
  };
  get events() {
    return Stream3.fromPubSub(this.pubsub());
  }
  get subscribe() {
    return Effect6.suspend(() => PubSub3.subscribe(this.pubsub()));
  }
  // -- the store's clock ----------------------------------------------------------------
  storeNow(clock2) {
    return clock2.unsafeCurrentTimeMillis() + this.offset;
  }
  timed(operation, effect2) {
    return Effect6.interruptible(Effect6.timeoutFail(Effect6.disconnect(effect2), {
      duration: this.config.storeTimeoutMillis,
      onTimeout: () => new CircuitBreakerStoreError({
        operation,
        message: `no answer within ${this.config.storeTimeoutMillis} ms`
      })
    }));
  }
  // -- applying what the store says -------------------------------------------------------
  /** Take a fleet state seen in a reply (only if newer) or pushed (in order, so taken as it comes). */
  applyFleet(next, now, pushed) {
    const prev = this.fleet;
    if (next.version <= prev.version && !(pushed && next.version === 1 && prev.version !== 1)) return;
    this.replaceFleet(next, now);
  }
  /** Take a fleet state as the truth (a conflict's current entry, a re-read), announcing a change of state. */
  replaceFleet(next, now) {
    const prev = this.fleet;
    this.fleet = next;
    if (prev.state._tag !== next.state._tag) {
      const change = next.change !== void 0 && next.change.to === next.state._tag && next.change.from === prev.state._tag ? next.change : { from: prev.state._tag, to: next.state._tag, reason: next.change?.reason ?? "reset", at: now };
      this.announceFleet(change);
    }
  }
  announceFleet(announcement) {
    const { at, from, reason, to } = announcement;
    transitionsTotal.unsafeUpdate(1, [
      ...this.fleetLabels,
      MetricLabel3.make("from", from),
      MetricLabel3.make("to", to)
    ]);
    stateGauge.unsafeUpdate(gaugeValue2(to), this.fleetLabels);
    const change = {
      breaker: this.name,
      service: this.service,
      resource: this.resource,
      from,
      to,
      at,
      reason,
      fleet: true
    };
    this.forward(change);
    this.announcements.unsafeOffer(change);
  }
  /**
   * Log each fleet transition, in order, on a fiber of the breaker's scope (so
   * the logger of the program that made the breaker writes it). Runs until
   * interrupted.
   */
  get announcer() {
    return Effect6.forever(Effect6.flatMap(Queue2.take(this.announcements), (change) => {
      const message = `Circuit breaker "${change.breaker}" (fleet): ${change.from} -> ${change.to} (${change.reason})`;
      const log = change.to === "Open" || change.to === "Isolated" ? Effect6.logWarning(message) : Effect6.logInfo(message);
      return Effect6.annotateLogs(log, {
        breaker: change.breaker,
        from: change.from,
        to: change.to,
        reason: change.reason
      });
    }));
  }
  entryFleet(entry) {
    return decodeFleet(this.machine, entry);
  }
  // -- store health ---------------------------------------------------------------------
  storeFailed(error) {
    return Effect6.suspend(() => {
      storeErrorsTotal.unsafeUpdate(1, [...this.labels, MetricLabel3.make("call", error.operation)]);
      if (this.mode === "local-fallback") return Effect6.void;
      this.mode = "local-fallback";
      sharedGauge.unsafeUpdate(0, this.labels);
      return Effect6.logWarning(
        `Circuit breaker "${this.name}": its shared-state store failed (${error.operation}: ${error.message}); deciding on the local breaker alone until the store answers again`
      ).pipe(Effect6.annotateLogs({ breaker: this.name }));
    });
  }
  storeRecovered() {
    return Effect6.suspend(() => {
      sharedGauge.unsafeUpdate(1, this.labels);
      if (this.mode === "shared") return Effect6.void;
      this.mode = "shared";
      this.wake.unsafeOffer(void 0);
      return Effect6.logInfo(`Circuit breaker "${this.name}": its shared-state store answers again; sharing state`).pipe(Effect6.annotateLogs({ breaker: this.name }));
    });
  }
  // -- compare-and-set ------------------------------------------------------------------
  /**
   * Decide on the fleet state last seen and write the result; on a conflict,
   * decide again on the entry the conflict handed back. `undefined` when every
   * attempt conflicted.
   */
  decide(operation, decide) {
    const attempt = (n) => Effect6.clockWith((clock2) => {
      const fleet = this.fleet;
      const decision = decide(fleet, this.storeNow(clock2));
      const next = decision.next;
      if (next === void 0) return Effect6.succeed(decision.result);
      return Effect6.flatMap(
        this.timed(
          operation,
          this.store.compareAndSet(this.name, fleet.version, encodeFleet(next), this.config.ttlMillis)
        ),
        (reply) => {
          this.offset = reply.now - clock2.unsafeCurrentTimeMillis();
          if (reply._tag === "Written") {
            this.applyFleet({ ...next, version: reply.version }, reply.now, false);
            return Effect6.succeed(decision.result);
          }
          this.replaceFleet(this.entryFleet(reply.current), reply.now);
          return n + 1 >= MAX_ATTEMPTS ? Effect6.succeed(void 0) : attempt(n + 1);
        }
      );
    });
    return attempt(0);
  }
  // -- batches of outcomes ---------------------------------------------------------------
  report(event2, at) {
    const events = this.outcomes;
    if (events.length >= this.config.maxBuffer) {
      const drop = Math.max(1, events.length >> 2);
      events.splice(0, drop);
      this.outcomeTimes.splice(0, drop);
      this.dropped += drop;
    }
    events.push(event2);
    this.outcomeTimes.push(at);
    if (events.length === this.config.maxBatch) this.wake.unsafeOffer(void 0);
  }
  /** How many outcomes wait for the next batch (tests, snapshots). */
  get buffered() {
    return this.outcomes.length;
  }
  /** Send the buffered outcomes (one compare-and-set, retried on conflict); kept for later when the store fails. */
  flush() {
    return Effect6.suspend(() => {
      if (this.mode !== "shared" || this.outcomes.length === 0) return Effect6.void;
      const events = this.outcomes;
      const times = this.outcomeTimes;
      this.outcomes = [];
      this.outcomeTimes = [];
      return this.decide("compareAndSet", (fleet, now) => this.replay(fleet, events, times, now)).pipe(
        Effect6.matchEffect({
          // every attempt conflicted (a busy fleet): the outcomes go with the next batch
          onSuccess: (sent) => sent === void 0 ? Effect6.sync(() => this.requeue(events, times)) : Effect6.void,
          onFailure: (error) => Effect6.zipRight(
            Effect6.sync(() => this.requeue(events, times)),
            this.storeFailed(error)
          )
        })
      );
    });
  }
  requeue(events, times) {
    const allEvents = events.concat(this.outcomes);
    const allTimes = times.concat(this.outcomeTimes);
    const excess = allEvents.length - this.config.maxBuffer;
    if (excess > 0) {
      allEvents.splice(0, excess);
      allTimes.splice(0, excess);
      this.dropped += excess;
    }
    this.outcomes = allEvents;
    this.outcomeTimes = allTimes;
  }
  // Replay a batch on the fleet's state. The quorum vetoes a Closed -> Open trip while fewer than `quorum` instances
  // have failures in the quorum window: the state stays Closed with the calls recorded (the rule fires again at the
  // next failure, when the quorum may hold).
  replay(fleet, events, times, now) {
    const { instanceId, quorum, quorumWindowMillis } = this.config;
    let state = fleet.state;
    let failing = fleet.failing.filter(
      (entry) => entry[2] > now - quorumWindowMillis
    );
    let pruned = failing.length !== fleet.failing.length;
    let change = fleet.change;
    let unchanged;
    for (let i = 0; i < events.length; i++) {
      const event2 = events[i];
      if (event2.epoch !== state.epoch || state._tag !== "Closed") continue;
      const untimed = Number.isNaN(times[i]);
      if (untimed && event2 === unchanged) continue;
      const at = untimed ? now : times[i] + this.offset;
      if (event2._tag === "Failure") {
        failing = withFailure(failing, instanceId, at);
        pruned = true;
      }
      const t = transition2(state, event2, at, this.machine);
      if (t.announcements.length > 0 && t.state._tag === "Open" && failing.length < quorum) {
        state = {
          _tag: "Closed",
          epoch: state.epoch,
          consecutiveFailures: t.state.consecutiveFailures,
          trips: 0,
          rules: t.state.rules
        };
        unchanged = void 0;
        continue;
      }
      if (t.announcements.length > 0) change = t.announcements[0];
      unchanged = untimed && t.state === state ? event2 : void 0;
      state = t.state;
    }
    if (state === fleet.state && !pruned) return { next: void 0, result: true };
    return { next: { ...fleet, state, failing, change }, result: true };
  }
  // -- the call path ---------------------------------------------------------------------
  run(self) {
    return Effect6.suspend(() => {
      if (this.mode === "shared") {
        const fleet = this.fleet.state;
        switch (fleet._tag) {
          case "Closed":
            break;
          case "Disabled":
            return this.local.execute(self);
          default:
            return this.guarded(self);
        }
      }
      const handlers = this.local.unsafeClosedHandlers();
      if (handlers !== void 0) return Effect6.matchCauseEffect(self, this.fusedHandlers(handlers));
      return this.local.execute(this.reported(self, this.fleet.state.epoch));
    });
  }
  fusedHandlers(handlers) {
    const epoch = this.fleet.state.epoch;
    if (this.fusedFor === handlers && this.fusedEpoch === epoch) return this.fused;
    const success = { _tag: "Success", epoch, durationMillis: 0 };
    const failure = { _tag: "Failure", epoch, durationMillis: 0 };
    this.fusedFor = handlers;
    this.fusedEpoch = epoch;
    return this.fused = {
      onSuccess: (a) => {
        this.report(success, NaN);
        return handlers.onSuccess(a);
      },
      onFailure: (cause) => {
        if (this.local.outcomeOf(cause) === FAILURE2) this.report(failure, NaN);
        return handlers.onFailure(cause);
      }
    };
  }
  // a Closed-fleet call the local breaker runs on its general path: timed with the fiber's Clock (matchCauseEffect
  // rather than onExit: no interruption mask on a path every call of a timed breaker takes)
  reported(self, epoch) {
    return Effect6.clockWith((clock2) => {
      const start = clock2.unsafeCurrentTimeMillis();
      return Effect6.matchCauseEffect(self, {
        onSuccess: (a) => {
          const end = clock2.unsafeCurrentTimeMillis();
          this.report({ _tag: "Success", epoch, durationMillis: end - start }, end);
          return Effect6.succeed(a);
        },
        onFailure: (cause) => {
          if (this.local.outcomeOf(cause) === FAILURE2) {
            const end = clock2.unsafeCurrentTimeMillis();
            this.report({ _tag: "Failure", epoch, durationMillis: end - start }, end);
          }
          return Effect6.failCause(cause);
        }
      });
    });
  }
  reject(state, retryAfterMillis) {
    rejectionsTotal.unsafeUpdate(1, [...this.fleetLabels, MetricLabel3.make("state", state)]);
    const error = new CircuitOpenError({
      breaker: this.name,
      state,
      retryAfter: retryAfterMillis === Number.POSITIVE_INFINITY ? Duration7.infinity : Duration7.millis(Math.max(0, retryAfterMillis))
    });
    return Effect6.zipRight(
      event(Event.breakerRejected, {
        [Attr.breakerName]: this.name,
        [Attr.breakerState]: state,
        [Attr.retryAfterMs]: retryAfterMillis,
        "resilience.circuit_breaker.scope": "fleet"
      }),
      Effect6.fail(error)
    );
  }
  // The fleet is Open, HalfOpen or Isolated: reject, or ask the fleet for a probe slot.
  guarded(self) {
    return Effect6.clockWith((clock2) => {
      const fleet = this.fleet.state;
      const now = this.storeNow(clock2);
      if (fleet._tag === "Isolated") return this.reject("Isolated", Number.POSITIVE_INFINITY);
      if (fleet._tag === "Open" && now < fleet.until) return this.reject("Open", fleet.until - now);
      if (fleet._tag === "Closed" || fleet._tag === "Disabled") return this.run(self);
      const local = this.local.unsafeState;
      const localNow = clock2.unsafeCurrentTimeMillis();
      if (local._tag === "Isolated" || local._tag === "Open" && localNow < local.until) {
        return this.local.execute(self);
      }
      if (this.probing) return this.reject("HalfOpen", 0);
      return this.probe(self);
    });
  }
  probe(self) {
    this.probing = true;
    const slot = this.decide("compareAndSet", (fleet, now) => {
      let state = fleet.state;
      if (state._tag === "HalfOpen" && state.probes >= this.machine.halfOpenMaxProbes && now - (fleet.probedAt ?? state.openedAt) >= this.config.probeLeaseMillis) {
        state = transition2(state, { _tag: "Ignored", epoch: state.epoch }, now, this.machine).state;
      }
      const t = transition2(state, admitEvent2, now, this.machine);
      const admission = t.admission;
      if (t.state === fleet.state) return { next: void 0, result: admission };
      return {
        next: {
          ...fleet,
          state: t.state,
          change: t.announcements[0] ?? fleet.change,
          probedAt: admission._tag === "Admitted" && admission.probe ? now : fleet.probedAt
        },
        result: admission
      };
    });
    return Effect6.uninterruptibleMask(
      (restore) => Effect6.flatMap(
        Effect6.either(Effect6.ensuring(slot, Effect6.sync(() => this.probing = false))),
        (got) => {
          if (got._tag === "Left") {
            return Effect6.zipRight(this.storeFailed(got.left), restore(this.run(self)));
          }
          const admission = got.right;
          if (admission === void 0) return this.reject("HalfOpen", 0);
          if (admission._tag === "Rejected") return this.reject(admission.state, admission.retryAfterMillis);
          if (!admission.probe) return restore(this.run(self));
          return this.runProbe(restore(self), admission.epoch);
        }
      )
    );
  }
  // Run a probe through the local breaker and write its outcome to the fleet at once (not batched).
  runProbe(self, epoch) {
    return Effect6.clockWith((clock2) => {
      const start = clock2.unsafeCurrentTimeMillis();
      let outcome = { _tag: "Ignored", epoch };
      const tracked = Effect6.onExit(self, (exit) => Effect6.sync(() => {
        const durationMillis = clock2.unsafeCurrentTimeMillis() - start;
        const o = exit._tag === "Success" ? SUCCESS2 : this.local.outcomeOf(exit.cause);
        outcome = o === SUCCESS2 ? { _tag: "Success", epoch, durationMillis } : o === FAILURE2 ? { _tag: "Failure", epoch, durationMillis } : { _tag: "Ignored", epoch };
      }));
      return Effect6.onExit(this.local.execute(tracked), () => this.writeOutcome(() => outcome));
    });
  }
  writeOutcome(outcome) {
    return this.decide("compareAndSet", (fleet, now) => {
      const event2 = outcome();
      const t = transition2(fleet.state, event2, now, this.machine);
      if (t.state === fleet.state) return { next: void 0, result: void 0 };
      const closing = t.state._tag === "Closed";
      return {
        next: {
          ...fleet,
          state: t.state,
          failing: closing ? [] : fleet.failing,
          change: t.announcements[0] ?? fleet.change
        },
        result: void 0
      };
    }).pipe(Effect6.catchAll((error) => this.storeFailed(error)), Effect6.asVoid);
  }
  // -- manual commands (fleet-wide) ---------------------------------------------------------
  command(event2, local) {
    return Effect6.zipRight(
      local,
      Effect6.suspend(
        () => this.mode === "shared" ? this.decide("compareAndSet", (fleet, now) => {
          const t = transition2(fleet.state, event2, now, this.machine);
          if (t.state === fleet.state) return { next: void 0, result: void 0 };
          const failing = t.state._tag === "Closed" ? [] : fleet.failing;
          return {
            next: { ...fleet, state: t.state, failing, change: t.announcements[0] ?? fleet.change },
            result: void 0
          };
        }).pipe(Effect6.catchAll((error) => this.storeFailed(error)), Effect6.asVoid) : Effect6.void
      )
    );
  }
  get isolate() {
    return this.command({ _tag: "Isolate" }, this.local.isolate);
  }
  get reset() {
    return this.command({ _tag: "Reset" }, this.local.reset);
  }
  get disable() {
    return this.command({ _tag: "Disable" }, this.local.disable);
  }
  // -- observation ---------------------------------------------------------------------------
  // What a call sees: the local breaker's state, unless the fleet's is stricter.
  effective(local, clock2) {
    if (this.mode !== "shared") return local;
    const fleet = this.fleet.state;
    switch (fleet._tag) {
      case "Closed":
      case "Disabled":
        return local;
      case "Isolated":
        return "Isolated";
      case "Open":
      case "HalfOpen":
        if (fleet._tag === "Open" && this.storeNow(clock2) < fleet.until) return "Open";
        return local === "Open" || local === "Isolated" ? local : "HalfOpen";
    }
  }
  get state() {
    return Effect6.flatMap(
      this.local.state,
      (local) => Effect6.clockWith((clock2) => Effect6.succeed(this.effective(local, clock2)))
    );
  }
  get snapshot() {
    return Effect6.flatMap(this.local.snapshot, (snapshot) => Effect6.clockWith((clock2) => {
      const fleet = this.fleet;
      const fleetState = fleet.state._tag === "Open" && this.storeNow(clock2) >= fleet.state.until ? "HalfOpen" : fleet.state._tag;
      return Effect6.succeed({
        ...snapshot,
        state: this.effective(snapshot.state, clock2),
        fleet: {
          mode: this.mode,
          state: fleetState,
          instanceId: this.config.instanceId,
          failingInstances: fleet.failing.map(([instance, failures, lastFailureAt]) => ({
            instance,
            failures,
            lastFailureAt
          })),
          version: fleet.version
        }
      });
    }));
  }
  // Wait until the effective state is `state`: re-checked at every change (local or fleet) and at the fleet's reset
  // time.
  awaitState(state) {
    return Effect6.scoped(Effect6.gen(this, function* () {
      const changes = yield* this.subscribe;
      while (true) {
        const current = yield* this.state;
        if (current === state) return;
        yield* Queue2.takeAll(changes);
        const fleet = this.fleet.state;
        const clock2 = yield* Effect6.clock;
        const wait = fleet._tag === "Open" ? fleet.until - this.storeNow(clock2) : Number.POSITIVE_INFINITY;
        const local = this.local.unsafeState;
        const localWait = local._tag === "Open" ? local.until - clock2.unsafeCurrentTimeMillis() : Number.POSITIVE_INFINITY;
        const until = Math.min(
          wait > 0 ? wait : Number.POSITIVE_INFINITY,
          localWait > 0 ? localWait : Number.POSITIVE_INFINITY
        );
        yield* until === Number.POSITIVE_INFINITY ? Queue2.take(changes) : Effect6.raceFirst(Effect6.sleep(Math.max(0, until)), Queue2.take(changes));
      }
    }));
  }
  get awaitClosed() {
    return this.awaitState("Closed");
  }
  get liveHalfOpen() {
    return this.local.liveHalfOpen;
  }
  get failureCount() {
    return this.local.failureCount;
  }
  /** Outcomes dropped from a full buffer while the store was away (tests, the report). */
  get droppedOutcomes() {
    return this.dropped;
  }
  // -- background fibers ----------------------------------------------------------------------
  /**
   * Send a batch whenever woken: by the call that fills `maxBatch`, or by the
   * ticker. Runs until interrupted. (Waiting on the queue alone, not raced with
   * a timer: a race per batch cost ~200 ns per call at 100 calls a batch.)
   */
  get flusher() {
    return Effect6.forever(Effect6.zipRight(Queue2.take(this.wake), this.flush()));
  }
  /** Wake the flusher every `interval` when outcomes wait. Runs until interrupted. */
  get ticker() {
    return Effect6.forever(
      Effect6.zipRight(
        Effect6.sleep(this.config.intervalMillis),
        Effect6.sync(() => {
          if (this.outcomes.length > 0) this.wake.unsafeOffer(void 0);
        })
      )
    );
  }
  /**
   * Subscribe to the fleet's entry, read it, then apply every push; when the
   * push channel fails, fall back to the local breaker and try again with
   * backoff (100 ms doubling up to 5 s). `ready` completes after the first
   * attempt, whatever its outcome.
   */
  watcher(ready) {
    let attempt = 0;
    const once = Effect6.scoped(Effect6.gen(this, function* () {
      const stream = yield* this.timed("changes", this.store.changes(this.name));
      const read = yield* this.timed("read", this.store.read(this.name));
      const clock2 = yield* Effect6.clock;
      this.offset = read.now - clock2.unsafeCurrentTimeMillis();
      const fleet = this.entryFleet(read.entry);
      if (fleet.version !== this.fleet.version) this.replaceFleet(fleet, read.now);
      attempt = 0;
      yield* this.storeRecovered();
      yield* Deferred.succeed(ready, void 0);
      yield* Stream3.runForEach(
        stream,
        (entry) => Effect6.sync(() => this.applyFleet(this.entryFleet(Option7.some(entry)), this.storeNow(clock2), true))
      );
      return yield* new CircuitBreakerStoreError({ operation: "changes", message: "the push stream ended" });
    }));
    return Effect6.forever(
      Effect6.catchAll(once, (error) => Effect6.gen(this, function* () {
        yield* this.storeFailed(error);
        yield* Deferred.succeed(ready, void 0);
        const delay = Math.min(5e3, 100 * Math.pow(2, attempt));
        attempt++;
        yield* Effect6.sleep(delay);
      }))
    );
  }
};
var make7 = (options, sink) => Effect6.gen(function* () {
  const store = yield* CircuitBreakerStore;
  const localConfig = yield* resolve(options);
  const fleetConfig = yield* resolveFleet(options, localConfig.machine);
  let forward = () => {
  };
  const local = new Breaker(localConfig, (change) => forward(change));
  const made = new SharedBreaker(local, fleetConfig, store, sink);
  forward = made.forward;
  const ready = yield* Deferred.make();
  yield* Effect6.forkScoped(made.watcher(ready));
  yield* Effect6.forkScoped(made.flusher);
  yield* Effect6.forkScoped(made.ticker);
  yield* Effect6.forkScoped(made.announcer);
  yield* Deferred.await(ready);
  yield* Effect6.addFinalizer(() => Effect6.interruptible(made.flush()));
  return made;
});
var withFailure = (failing, instance, at) => {
  const out = [];
  let found = false;
  for (const entry of failing) {
    if (entry[0] === instance) {
      out.push([instance, entry[1] + 1, Math.max(entry[2], at)]);
      found = true;
    } else {
      out.push(entry);
    }
  }
  if (!found) out.push([instance, 1, at]);
  if (out.length > MAX_FAILING) {
    let oldest = 0;
    for (let i = 1; i < out.length; i++) if (out[i][2] < out[oldest][2]) oldest = i;
    out.splice(oldest, 1);
  }
  return out;
};

// packages/core/src/SharedCircuitBreaker.ts
var SharedCircuitBreaker_exports = {};
__export(SharedCircuitBreaker_exports, {
  OptionsSchema: () => OptionsSchema2,
  make: () => make8
});
var OptionsSchema2 = SharedCircuitBreakerOptions;
var make8 = make7;

// scripts/bench/zz-shared-ab.ts
import { Effect as Effect7, Layer as Layer2, ManagedRuntime } from "effect";
var CALLS = 2e5;
var CHUNK = 100;
var ok = Effect7.succeed(1);
var loop = (execute) => Effect7.gen(function* () {
  for (let i = 0; i < CALLS / CHUNK; i++) {
    for (let j = 0; j < CHUNK; j++) yield* execute(ok);
    yield* Effect7.yieldNow();
  }
});
var bare = (e) => e;
var main = Effect7.gen(function* () {
  const local = yield* CircuitBreaker_exports.make({ service: "ab", resource: "local" });
  const shared = yield* SharedCircuitBreaker_exports.make({ service: "ab", resource: "shared", instanceId: "ab-1", ...process.env.NOFLUSH ? { report: { maxBatch: 1e4, interval: "1 hour", maxBuffer: 1e6 } } : {} });
  const variants = [
    ["bare", bare],
    ["local CircuitBreaker", local.execute],
    ["SharedCircuitBreaker", shared.execute]
  ];
  const results = {};
  for (let round = 0; round < 15; round++) {
    for (const [name, execute] of variants) {
      const start = process.hrtime.bigint();
      yield* loop(execute);
      const ns = Number(process.hrtime.bigint() - start) / CALLS;
      if (round >= 3) (results[name] ??= []).push(ns);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const base = median(results["bare"]);
  for (const [name] of variants) {
    console.log(`${name.padEnd(24)} ${median(results[name]).toFixed(0)} ns/call  (+${(median(results[name]) - base).toFixed(0)} over bare)`);
  }
  console.log(`shared - local: ${(median(results["SharedCircuitBreaker"]) - median(results["local CircuitBreaker"])).toFixed(0)} ns/call`);
});
var runtime = ManagedRuntime.make(Layer2.empty);
runtime.runPromise(Effect7.scoped(main).pipe(Effect7.provide(CircuitBreakerStore_exports.layerMemory()))).then(() => runtime.dispose());
