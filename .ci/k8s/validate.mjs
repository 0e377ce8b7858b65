// Offline check of Kubernetes manifests, no cluster needed:
//   node validate.mjs [--weir-out DIR] FILE.yaml...
// 1. every YAML document parses (duplicate keys are errors);
// 2. each object passes the JSON schema of its apiVersion/kind
//    (kubernetes-models, Kubernetes 1.27 OpenAPI: types, required fields);
// 3. no unknown field (the schemas allow them, so TypeScript's
//    excess-property check on the models' interfaces catches typos such as
//    "readinesProbe"; it reports the first one of each object);
// 4. with --weir-out, each ConfigMap's weir.yaml is written to
//    DIR/NAME.weir.yaml for `weir -t`.
// Exit 0 when all is well, 1 otherwise.
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import ts from "typescript";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
let failed = 0;
const fail = (where, msg) => {
    console.error(`${where}: ${msg}`);
    failed++;
};

const args = process.argv.slice(2);
let weirOut = null;
if (args[0] === "--weir-out") {
    weirOut = args[1];
    args.splice(0, 2);
}
if (args.length === 0) {
    console.error("usage: node validate.mjs [--weir-out DIR] FILE.yaml...");
    process.exit(2);
}

const objects = [];   // {where, doc, apiVersion, kind}
for (const file of args) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"), { uniqueKeys: true });
    docs.forEach((d, i) => {
        const where = `${file}#${i + 1}`;
        for (const e of d.errors) fail(where, `YAML: ${e.message}`);
        if (d.errors.length) return;
        const doc = d.toJS();
        if (doc === null) return;
        const { apiVersion, kind } = doc;
        if (typeof apiVersion !== "string" || typeof kind !== "string" ||
            !/^[A-Za-z0-9.\/]+$/.test(apiVersion) || !/^[A-Za-z]+$/.test(kind)) {
            fail(where, "no apiVersion/kind");
            return;
        }
        objects.push({ where: `${where} (${kind} ${doc.metadata?.name ?? "?"})`, doc, apiVersion, kind });
    });
}

// 2. Schemas.
for (const o of objects) {
    let Model;
    try {
        Model = require(`kubernetes-models/${o.apiVersion}/${o.kind}`)[o.kind];
    } catch {
        fail(o.where, `unknown apiVersion/kind ${o.apiVersion} ${o.kind}`);
        o.unknown = true;
        continue;
    }
    try {
        new Model(o.doc).validate();
    } catch (e) {
        fail(o.where, `schema: ${e.message}`);
    }
}

// 3. Unknown fields: one typed object literal per manifest object.
const known = objects.filter((o) => !o.unknown);
if (known.length) {
    const tmp = fs.mkdtempSync(path.join(here, ".check-"));
    const src = path.join(tmp, "manifests.ts");
    let text = "";
    const ranges = [];   // [first line, last line, where]
    known.forEach((o, i) => {
        text += `import type { I${o.kind} as T${i} } from "kubernetes-models/${o.apiVersion}/${o.kind}";\n`;
    });
    known.forEach((o, i) => {
        const first = text.split("\n").length;
        text += `export const o${i}: T${i} = ${JSON.stringify(o.doc, null, 2)};\n`;
        ranges.push([first, text.split("\n").length - 1, o.where]);
    });
    fs.writeFileSync(src, text);
    const program = ts.createProgram([src], {
        noEmit: true, strict: true, skipLibCheck: true, types: [],
        module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
        target: ts.ScriptTarget.ES2022,
    });
    for (const d of ts.getPreEmitDiagnostics(program)) {
        const msg = ts.flattenDiagnosticMessageText(d.messageText, "\n  ");
        if (!d.file) {
            fail("typescript", msg);
            continue;
        }
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        const r = ranges.find(([a, b]) => line + 1 >= a && line + 1 <= b);
        const snippet = d.file.text.split("\n")[line].trim();
        fail(r ? r[2] : src, `${snippet}\n  ${msg}`);
    }
    fs.rmSync(tmp, { recursive: true, force: true });
}

// 4. The weir.yaml of each ConfigMap.
if (weirOut) {
    for (const o of objects)
        if (o.kind === "ConfigMap" && typeof o.doc.data?.["weir.yaml"] === "string")
            fs.writeFileSync(path.join(weirOut, `${o.doc.metadata.name}.weir.yaml`),
                             o.doc.data["weir.yaml"]);
}

console.log(`${objects.length} object(s) in ${args.length} file(s): ` +
            (failed ? `${failed} problem(s)` : "valid"));
process.exit(failed ? 1 : 0);
