/**
 * Playwright reporter for qgjob runs: plain human lines, written the moment they happen, for the
 * agent to stream to watchers. `▶ title` when a test begins, the spec's own stdout/stderr lines
 * as they come, then `✔ title (1.2s)`, `✘ title: message` or `- title (skipped)`.
 * The JSON reporter next to it is what the agent reads for results; this one is only for people.
 * CommonJS because Playwright loads reporters with `require` when the config is plain JS.
 */
'use strict';

const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;
const clean = (s) => String(s ?? '').replace(ANSI, '');

function titleOf(test) {
  // titlePath() is ['', project, file, ...describes, title]: keep describes and title.
  return test.titlePath().slice(3).join(' › ');
}

function firstLine(result) {
  const err = result.error || (result.errors && result.errors[0]);
  const msg = clean(err && (err.message || err.value)).trim();
  return msg.split('\n')[0] || result.status;
}

function seconds(ms) {
  return `${(ms / 1000).toFixed(1)}s`;
}

class LineReporter {
  constructor() {
    this.counts = { passed: 0, failed: 0, skipped: 0 };
    this.pendingNewline = { stdout: false, stderr: false };
  }
  printsToStdio() {
    return true;
  }
  write(stream, text) {
    const s = stream === 'stderr' ? process.stderr : process.stdout;
    s.write(text);
    this.pendingNewline[stream] = text.length > 0 && !text.endsWith('\n');
  }
  // A spec's partial line (process.stdout.write without "\n") must not glue itself to our next line.
  line(text) {
    if (this.pendingNewline.stdout) this.write('stdout', '\n');
    this.write('stdout', text + '\n');
  }
  onBegin(_config, suite) {
    const n = suite.allTests().length;
    this.line(`running ${n} test${n === 1 ? '' : 's'}`);
  }
  onTestBegin(test, result) {
    this.line(`▶ ${titleOf(test)}${result.retry ? ` (retry ${result.retry})` : ''}`);
  }
  onStdOut(chunk) {
    this.write('stdout', typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  }
  onStdErr(chunk) {
    this.write('stderr', typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
  }
  onTestEnd(test, result) {
    const title = titleOf(test);
    if (result.status === 'skipped') {
      this.counts.skipped++;
      this.line(`- ${title} (skipped)`);
    } else if (result.status === test.expectedStatus) {
      this.counts.passed++;
      this.line(`✔ ${title} (${seconds(result.duration)})`);
    } else {
      this.counts.failed++;
      const why = result.status === 'timedOut' ? `timed out after ${seconds(result.duration)}` : firstLine(result);
      this.line(`✘ ${title}: ${why}`);
    }
  }
  onError(error) {
    this.line(`✘ error: ${clean(error.message || error.value).trim()}`);
  }
  onEnd(result) {
    const { passed, failed, skipped } = this.counts;
    this.line(`${passed} passed, ${failed} failed, ${skipped} skipped (${result.status}, ${seconds(result.duration)})`);
  }
}

module.exports = LineReporter;
