#!/usr/bin/env node
/*
 * axe-check.js - the accessibility check of the HTML reports aodreport
 * writes (--format html): axe-core, run in Debian's headless Chromium.
 *
 *   node tests/validate/axe-check.js [--expect-violations] REPORT.html...
 *
 * For each file, a copy with axe.min.js and a few lines of script added at
 * the end of <body> is opened with `chromium --headless --dump-dom`; the
 * script runs axe on the document (the report's own markup: the added
 * script runs before anything is added to the page) and writes the
 * violations into the DOM, base64-encoded, which --dump-dom prints.  No
 * browser is downloaded and no DevTools connection is needed (Node 18 has
 * no WebSocket).
 *
 * The rules: axe's tags wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa (WCAG
 * 2.2 A and AA).  Also checked here, not by axe: the report has no script
 * and loads nothing (no src=, no href= outside the page, no url() in CSS),
 * and every table has a <caption> and header cells with scope (axe takes a
 * table without headers for a layout table and lets it pass).
 *
 * Each file gets a line "ok FILE" or "FAIL FILE: ..." with every violation
 * (rule, impact, help, the first nodes).  Exit 0 when every file passes;
 * with --expect-violations (to prove the check bites on a broken page),
 * exit 0 only when axe itself finds violations in every file.  Exit 2 for a usage or set-up error
 * (no Chromium, no axe-core).
 *
 * Environment: CHROMIUM (default: chromium, then chromium-browser on PATH,
 * then /usr/bin/chromium); NODE_PATH as for the Bundle validators.
 */
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const MARK = 'aod-axe-result';

function die(msg) {
  process.stderr.write(`axe-check: ${msg}\n`);
  process.exit(2);
}

function findChromium() {
  const tries = [];
  if (process.env.CHROMIUM) tries.push(process.env.CHROMIUM);
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    tries.push(path.join(dir, 'chromium'), path.join(dir, 'chromium-browser'));
  }
  tries.push('/usr/bin/chromium');
  for (const t of tries) {
    try {
      fs.accessSync(t, fs.constants.X_OK);
      return t;
    } catch (e) {
      /* next */
    }
  }
  return null;
}

function axeSource() {
  let file;
  try {
    file = require.resolve('axe-core/axe.min.js');
  } catch (e) {
    die('axe-core is not installed (cd tests && npm ci; or set NODE_PATH)');
  }
  return fs.readFileSync(file, 'utf8');
}

/* The script run in the page: axe on the document, then the result as a
 * base64 attribute of a new element (textContent would be re-escaped). */
function runner() {
  return `
(function () {
  function done(obj) {
    var json = JSON.stringify(obj);
    var el = document.createElement('div');
    el.id = '${MARK}';
    el.setAttribute('data-result', btoa(unescape(encodeURIComponent(json))));
    document.documentElement.appendChild(el);
  }
  axe.run(document, {
    runOnly: { type: 'tag', values: ${JSON.stringify(TAGS)} },
    resultTypes: ['violations'],
    exclude: [['#${MARK}']]
  }).then(function (r) {
    done({ violations: r.violations.map(function (v) {
      return { id: v.id, impact: v.impact, help: v.help,
               nodes: v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); }) };
    }), passes: r.passes ? r.passes.length : 0, version: axe.version });
  }, function (e) { done({ error: String(e && e.stack || e) }); });
})();
`;
}

/* What axe cannot see: a script or anything loaded from elsewhere. */
function staticChecks(html) {
  const problems = [];
  if (/<script[\s>]/i.test(html)) problems.push('the report contains a <script>');
  if (/\son[a-z]+\s*=/i.test(html)) problems.push('the report contains an event handler attribute');
  if (/\ssrc\s*=/i.test(html)) problems.push('the report loads a resource (src=)');
  if (/\shref\s*=\s*["']?(?!#)/i.test(html)) problems.push('the report links outside itself (href=)');
  if (/url\s*\(/i.test(html)) problems.push('the report loads a resource from CSS (url())');
  if (/@import/i.test(html)) problems.push('the report imports a style sheet');
  /* axe takes a table without header cells for a layout table and passes
   * it; every table of a report holds data, so each must say so itself. */
  const tables = html.split(/<table[\s>]/i).slice(1);
  tables.forEach((t, i) => {
    const body = t.split(/<\/table>/i)[0];
    if (!/^[^]*?<caption[\s>]/i.test(body)) problems.push(`table ${i + 1} has no <caption>`);
    if (!/<th\s[^>]*scope=["']?(col|row)/i.test(body))
      problems.push(`table ${i + 1} has no header cell with scope`);
    if (/<th(?![^>]*scope=)[\s>]/i.test(body)) problems.push(`table ${i + 1} has a <th> without scope`);
  });
  return problems;
}

function check(chromium, axe, file, tmp) {
  const html = fs.readFileSync(file, 'utf8');
  const problems = staticChecks(html);
  const inject = `<script>${axe}</script><script>${runner()}</script>`;
  const at = html.lastIndexOf('</body>');
  const page = at >= 0 ? html.slice(0, at) + inject + html.slice(at) : html + inject;
  const pageFile = path.join(tmp, 'page.html');
  fs.writeFileSync(pageFile, page);
  let dom;
  try {
    dom = execFileSync(chromium, [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-extensions', '--no-first-run', '--no-default-browser-check',
      '--mute-audio', `--user-data-dir=${path.join(tmp, 'profile')}`,
      '--virtual-time-budget=60000', '--dump-dom', 'file://' + pageFile,
    ], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'], timeout: 180000 });
  } catch (e) {
    return { problems: [`chromium failed: ${e.message.split('\n')[0]}`] };
  }
  const m = dom.match(new RegExp(`id="${MARK}" data-result="([A-Za-z0-9+/=]*)"`));
  if (!m) return { problems: problems.concat(['axe did not report (no result in the page)']) };
  const r = JSON.parse(Buffer.from(m[1], 'base64').toString('utf8'));
  if (r.error) return { problems: problems.concat([`axe failed: ${r.error}`]) };
  if (!r.passes) problems.push('axe ran no rule that passed (did it run on the page?)');
  for (const v of r.violations)
    problems.push(`${v.id} (${v.impact}): ${v.help} [${v.nodes.join('; ')}]`);
  return { problems, axeViolations: r.violations.length };
}

function main() {
  const args = process.argv.slice(2);
  const expectViolations = args[0] === '--expect-violations';
  const files = expectViolations ? args.slice(1) : args;
  if (files.length === 0) die('usage: axe-check.js [--expect-violations] REPORT.html...');
  const chromium = findChromium();
  if (!chromium) die('no Chromium found (apt-get install chromium, or set CHROMIUM)');
  const axe = axeSource();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aod-axe-'));
  let bad = 0;
  try {
    for (const f of files) {
      const { problems, axeViolations } = check(chromium, axe, f, tmp);
      if (expectViolations && !axeViolations) {
        /* a broken page must be caught by axe itself, not only by the
         * static checks or by a browser that failed to run */
        console.log(`passed ${f}${problems.length ? ':\n  ' + problems.join('\n  ') : ''}`);
        bad++;
      } else if (problems.length === 0) {
        console.log(`ok ${f}`);
      } else {
        console.log(`${expectViolations ? 'rejected' : 'FAIL'} ${f}:\n  ${problems.join('\n  ')}`);
        if (!expectViolations) bad++;
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (expectViolations && bad) console.log(`FAIL: ${bad} broken page(s) passed the check`);
  process.exit(bad ? 1 : 0);
}

main();
