#!/usr/bin/env node
// The images' HEALTHCHECK, in Node (the slim images have no curl): `node healthcheck.mjs <what>`.
//   coordinator  GET http://127.0.0.1:$QGJOB_PORT/healthz answers 2xx (the database answers too)
//   agent        the coordinator at $QGJOB_URL lists a connected agent named after this host
//                ($QGJOB_AGENT_NAME if set): the agent is up and registered, not merely running
//   appium       GET http://127.0.0.1:$APPIUM_PORT/status says ready
// Exit 0 healthy, 1 not; one line saying why, which `docker inspect` shows in the health log.
import { hostname } from 'node:os';

const what = process.argv[2];
const env = process.env;
const signal = AbortSignal.timeout(4000);
const headers = env.QGJOB_TOKEN ? { authorization: `Bearer ${env.QGJOB_TOKEN}` } : {};

async function check() {
  switch (what) {
    case 'coordinator': {
      const url = `http://127.0.0.1:${env.QGJOB_PORT || 8080}/healthz`;
      const res = await fetch(url, { signal });
      return res.ok ? `ok: ${url}` : `unhealthy: ${url} answered ${res.status}`;
    }
    case 'agent': {
      const base = (env.QGJOB_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
      const name = env.QGJOB_AGENT_NAME || hostname();
      const res = await fetch(`${base}/api/v1/agents`, { headers, signal });
      if (!res.ok) return `unhealthy: ${base}/api/v1/agents answered ${res.status}`;
      const { agents } = await res.json();
      const me = agents.find((a) => a.name === name && a.connected);
      return me ? `ok: agent ${me.agent_id} is connected to ${base}` : `unhealthy: ${base} lists no connected agent named ${name}`;
    }
    case 'appium': {
      const url = `http://127.0.0.1:${env.APPIUM_PORT || 4723}/status`;
      const body = await (await fetch(url, { signal })).json();
      return body?.value?.ready === true ? `ok: ${url}` : `unhealthy: ${url} is not ready`;
    }
    default:
      return 'unhealthy: usage: node healthcheck.mjs coordinator|agent|appium';
  }
}

check().then(
  (line) => {
    console.log(line);
    process.exit(line.startsWith('ok') ? 0 : 1);
  },
  (err) => {
    console.log(`unhealthy: ${err?.cause?.code ?? err?.name ?? ''} ${err?.message ?? err}`.trim());
    process.exit(1);
  },
);
