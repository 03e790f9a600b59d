/**
 * An emitter stand-in for concurrency tests: appends call lines through an open descriptor,
 * sealing each file with a footer and opening the next (rotation), with deterministic event ids.
 * Usage: node --import tsx pipeline-writer.ts <eventsDir> <writerId> <files> <eventsPerFile>
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { call, emptyStats, footer, header, line } from '../helpers/event-files.js';

const [dir, writer, files, perFile] = [process.argv[2]!, process.argv[3]!, Number(process.argv[4]), Number(process.argv[5])];
for (let f = 0; f < files; f++) {
  const h = header({ file_id: `w${writer}-f${f}-${process.pid}`, file_seq: f });
  const fd = openSync(join(dir, `app-host-${process.pid}-${writer}-${f}.ndjson`), 'a', 0o600);
  writeSync(fd, line(h));
  for (let i = 0; i < perFile; i += 10) {
    let chunk = '';
    for (let k = i; k < Math.min(perFile, i + 10); k++) chunk += line(call({ event_id: `w${writer}-f${f}-e${k}`, seq: k + 1 }));
    writeSync(fd, chunk);
    if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  writeSync(fd, line(footer(h.file_id, perFile + 1, emptyStats({ events_written: (f + 1) * perFile }))));
  closeSync(fd);
}
