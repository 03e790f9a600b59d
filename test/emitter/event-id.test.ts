/** Event ids: version 7 UUIDs that begin with the call's end time, so they grow with time. */
import test from 'ava';
import { newEventId } from '../../src/emitter/event-id.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The time (epoch ms) a version 7 UUID begins with. */
function timeOf(id: string): number {
  return parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

test('an event id is a version 7 UUID (RFC 9562) that begins with the given time', (t) => {
  for (const ms of [0, 1, 1_700_000_000_123, Date.now(), 2 ** 48 - 1]) {
    const id = newEventId(ms);
    t.regex(id, V7, id);
    t.is(timeOf(id), ms, id);
  }
  t.is(timeOf(newEventId()) <= Date.now(), true);
});

test('event ids of later times sort after earlier ones, and ids of one millisecond all differ', (t) => {
  const ids: string[] = [];
  const base = 1_764_000_000_000;
  for (let ms = base; ms < base + 200; ms++) for (let k = 0; k < 500; k++) ids.push(newEventId(ms));
  t.is(new Set(ids).size, ids.length);
  for (let i = 500; i < ids.length; i += 500) t.true(ids[i - 1]! < ids[i]!, `${ids[i - 1]} then ${ids[i]}`);
  // The 74 random bits vary: no two of a millisecond share their random part.
  const sameMs = ids.slice(0, 500).map((id) => id.slice(15));
  t.is(new Set(sameMs).size, 500);
});

test('a time that is not a whole number of ms in range still gives a valid id', (t) => {
  t.is(timeOf(newEventId(-5)), 0);
  t.is(timeOf(newEventId(1234.9)), 1234);
  t.is(timeOf(newEventId(2 ** 60)), 2 ** 48 - 1);
  for (const odd of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
    const before = Date.now();
    const id = newEventId(odd);
    t.regex(id, V7, id);
    t.true(timeOf(id) >= before && timeOf(id) <= Date.now(), `${odd}: ${id}`);
  }
});
