#!/usr/bin/env node
/*
 * verify-jws.js - checks a signed FHIR document (aodreport --sign) with an
 * implementation that is not ours: the `jose` package verifies the JWS, and
 * the canonical JSON it is verified over is made here, in JavaScript,
 * independently of aodreport's C code.
 *
 *   node tests/validate/verify-jws.js DOC.json PUBKEY.pem
 *   node tests/validate/verify-jws.js DOC.xml PUBKEY.pem
 *
 * The document's Bundle.signature (sigFormat application/jose) holds a
 * compact JWS with a detached payload (RFC 7515 appendix F), base64-encoded;
 * the payload is the RFC 8785 canonical JSON of the Bundle without its
 * signature.  RFC 8785 is what ECMAScript itself does for strings and
 * numbers (JSON.stringify), with members sorted by UTF-16 code units (the
 * default sort of JavaScript strings).
 *
 * An XML document (aodreport --format bundle-xml --sign) carries the same
 * signature, over the canonical JSON of the same Bundle: it is turned into
 * FHIR JSON here by the npm `fhir` package (its XML-to-JSON conversion,
 * which knows from the FHIR structure definitions which elements repeat and
 * which values are numbers), except the narratives: FHIR JSON holds a
 * narrative as the XHTML text, and the `fhir` package writes that text
 * anew (<td/> for <td></td>), so each div is taken here as the file has it.
 *
 * Exit status: 0 valid; 1 not valid (the reason printed); 2 cannot run.
 */
'use strict';

const fs = require('fs');

function canonical(v) {
    if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
    if (v !== null && typeof v === 'object')
        return (
            '{' +
            Object.keys(v)
                .sort()
                .map((k) => JSON.stringify(k) + ':' + canonical(v[k]))
                .join(',') +
            '}'
        );
    return JSON.stringify(v);
}

// The FHIR JSON of an XML Bundle: the fhir package's conversion, with each
// narrative's div replaced by the XHTML as written in the file, in order.
function fromXml(text) {
    const { Fhir } = require('fhir');
    const doc = JSON.parse(new Fhir().xmlToJson(text));
    const raw = text.match(/<div xmlns="http:\/\/www\.w3\.org\/1999\/xhtml">[\s\S]*?<\/div>/g) || [];
    let i = 0;
    (function walk(v) {
        if (Array.isArray(v)) return v.forEach(walk);
        if (v === null || typeof v !== 'object') return;
        for (const k of Object.keys(v)) {
            if (k === 'div' && typeof v[k] === 'string') {
                if (i >= raw.length) fail('more narratives than divs in the file');
                v[k] = raw[i++];
            } else walk(v[k]);
        }
    })(doc);
    if (i !== raw.length) fail(`${raw.length} divs in the file, ${i} narratives read`);
    return doc;
}

function fail(msg) {
    process.stdout.write(`FAIL ${msg}\n`);
    process.exit(1);
}

async function main(argv) {
    if (argv.length !== 2) {
        process.stderr.write('usage: verify-jws.js DOC.json|DOC.xml PUBKEY.pem\n');
        process.exit(2);
    }
    let jose;
    try {
        jose = require('jose');
    } catch (e) {
        process.stderr.write(`verify-jws: the npm module 'jose' is missing: run \`npm ci\` in tests/\n`);
        process.exit(2);
    }
    const text = fs.readFileSync(argv[0], 'utf8');
    const doc = /^\s*</.test(text) ? fromXml(text) : JSON.parse(text);
    const key = await jose.importSPKI(fs.readFileSync(argv[1], 'utf8'), 'EdDSA');
    const sig = doc.signature; // R4: one Signature
    if (!sig || Array.isArray(sig) || sig.sigFormat !== 'application/jose')
        fail('no Bundle.signature with sigFormat application/jose');
    const parts = Buffer.from(sig.data, 'base64').toString('latin1').split('.');
    if (parts.length !== 3 || parts[1] !== '') fail('not a compact JWS with a detached payload');
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    if (header.alg !== 'EdDSA') fail(`alg ${header.alg}, not EdDSA`);
    if (header.jwk && header.kid !== (await jose.calculateJwkThumbprint(header.jwk, 'sha256')))
        fail('kid is not the RFC 7638 thumbprint of the jwk in the header');
    delete doc.signature;
    const payload = jose.base64url.encode(Buffer.from(canonical(doc), 'utf8'));
    try {
        await jose.flattenedVerify({ protected: parts[0], payload, signature: parts[2] }, key);
    } catch (e) {
        fail(`jose: ${e.code || ''} ${e.message}`);
    }
    process.stdout.write(`ok ${argv[0]}: jose verifies the signature (kid ${header.kid})\n`);
}

main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`verify-jws: ${e.stack || e}\n`);
    process.exit(2);
});
