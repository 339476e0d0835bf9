// The pose sliders of one digit capsule and the CapsNet decoder that redraws it, in the
// browser: every slider movement is decoded and drawn here, at screen rate, and only a
// released slider goes back to the server (see live_pose.py for the protocol).

const decoders = new Map(); // weights checksum -> decoder layers, shared by every mount
let halfToFloat = null;

/** Float32 value of each of the 65,536 float16 bit patterns. */
function halfTable() {
  if (halfToFloat === null) {
    halfToFloat = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) {
      const sign = bits & 0x8000 ? -1 : 1;
      const exponent = (bits >> 10) & 0x1f;
      const fraction = bits & 0x3ff;
      halfToFloat[bits] =
        exponent === 0 ? sign * 2 ** -14 * (fraction / 1024)
          : exponent === 31 ? (fraction ? NaN : sign * Infinity)
            : sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
    }
  }
  return halfToFloat;
}

function bytesFromBase64(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The decoder's dense layers from the payload Python sends (little-endian kernel, then
 * bias, of each layer in turn, as float16 or float32). */
export function readLayers(payload) {
  const bytes = bytesFromBase64(payload.weights);
  let values;
  if (payload.dtype === "float16") {
    const half = new Uint16Array(bytes.buffer);
    const table = halfTable();
    values = new Float32Array(half.length);
    for (let i = 0; i < half.length; i++) values[i] = table[half[i]];
  } else {
    values = new Float32Array(bytes.buffer);
  }
  const layers = [];
  let offset = 0;
  for (const [rows, cols] of payload.shapes) {
    const kernel = values.subarray(offset, (offset += rows * cols));
    const bias = values.subarray(offset, (offset += cols));
    layers.push({ rows, cols, kernel, bias });
  }
  if (offset !== values.length) throw new Error("decoder weights do not match their shapes");
  return layers;
}

/** The decoder's image of one capsule: the masked input keeps only `digit`'s vector, plus
 * `pose`; ReLU after every layer but the last, a sigmoid after the last. */
export function decode(layers, capsule, digit, pose) {
  const dim = capsule.length;
  let x = new Float64Array(layers[0].rows);
  for (let k = 0; k < dim; k++) x[digit * dim + k] = capsule[k] + pose[k];
  layers.forEach(({ rows, cols, kernel, bias }, index) => {
    const y = Float64Array.from(bias);
    for (let i = 0; i < rows; i++) {
      const xi = x[i];
      if (xi === 0) continue; // the mask and ReLU leave most inputs at zero
      const row = i * cols;
      for (let j = 0; j < cols; j++) y[j] += xi * kernel[row + j];
    }
    const last = index === layers.length - 1;
    for (let j = 0; j < cols; j++) y[j] = last ? 1 / (1 + Math.exp(-y[j])) : Math.max(y[j], 0);
    x = y;
  });
  return x;
}

function decoderFor(data) {
  if (!decoders.has(data.sha) && data.weights) decoders.set(data.sha, readLayers(data));
  return decoders.get(data.sha);
}

function build(root, data) {
  const panel = document.createElement("div");
  panel.className = "live-pose";
  panel.innerHTML = `
    <figure class="recon">
      <figcaption></figcaption>
      <canvas width="${data.size}" height="${data.size}" role="img"></canvas>
    </figure>
    <div class="sliders"></div>`;
  const sliders = panel.querySelector(".sliders");
  for (let d = 0; d < data.capsule.length; d++) {
    sliders.insertAdjacentHTML("beforeend", `
      <label class="pose">
        <span class="name"></span><output>+0.00</output>
        <input type="range" min="${-data.range}" max="${data.range}" step="${data.step}"
               value="0" data-dimension="${d}">
      </label>`);
  }
  root.appendChild(panel);
  return panel;
}

export default function (component) {
  try {
    mount(component);
  } catch (error) {
    // The server-side sliders stay on the page until the browser reports the weights.
    const root = component.parentElement;
    root.querySelector(".live-pose")?.remove();
    if (!root.querySelector(".status")) {
      root.insertAdjacentHTML("afterbegin", '<p class="status"></p>');
    }
    root.querySelector(".status").textContent =
      `The decoder could not start in this browser (${error}).`;
    console.error("live pose:", error);
  }
}

function mount({ data, parentElement, setStateValue }) {
  const layers = decoderFor(data);
  if (!layers) {
    // This browser lost the weights the server believes it has (a reloaded module): ask again.
    setStateValue("decoder", null);
    return;
  }
  let panel = parentElement.querySelector(".live-pose");
  const fresh = !panel;
  if (fresh) panel = build(parentElement, data);
  const view = panel.view ??
    (panel.view = { stats: { inputs: 0, frames: 0, latencies: [] }, released: 0 });
  Object.assign(view, { layers, capsule: data.capsule, digit: data.digit });

  const canvas = panel.querySelector("canvas");
  const inputs = [...panel.querySelectorAll("input")];
  const outputs = [...panel.querySelectorAll("output")];
  const pose = () => inputs.map((input) => Number(input.value));
  const show = (d) => {
    const value = Number(inputs[d].value);
    outputs[d].textContent = `${value < 0 ? "-" : "+"}${Math.abs(value).toFixed(2)}`;
  };

  const draw = () => {
    const image = decode(view.layers, view.capsule, view.digit, pose());
    const context = canvas.getContext("2d");
    const pixels = context.createImageData(canvas.width, canvas.height);
    for (let i = 0; i < image.length; i++) {
      const level = Math.round(255 * image[i]); // white ink on black, as the page's images
      pixels.data[4 * i] = pixels.data[4 * i + 1] = pixels.data[4 * i + 2] = level;
      pixels.data[4 * i + 3] = 255;
    }
    context.putImageData(pixels, 0, 0);
  };

  if (fresh) {
    let pending = null; // the first input event not drawn yet
    const frame = () => {
      draw();
      const latency = performance.now() - pending;
      pending = null;
      view.stats.frames += 1;
      view.stats.latencies.push(latency);
      if (view.stats.latencies.length > 1000) view.stats.latencies.shift();
    };
    inputs.forEach((input, d) => {
      input.addEventListener("input", (event) => {
        view.stats.inputs += 1;
        show(d);
        if (pending === null) {
          pending = event.timeStamp;
          requestAnimationFrame(frame); // one decode per frame, however many events came
        }
      });
      input.addEventListener("change", () => {
        view.agreed = JSON.stringify(pose());
        view.released += 1;
        setStateValue("pose", { values: pose(), release: view.released });
      });
    });
    // For tests and the benchmark: decode any capsule with the weights the page holds.
    panel.decode = (capsule, digit, values) =>
      Array.from(decode(view.layers, capsule, digit, values));
    panel.stats = view.stats;
  }

  // The server's pose replaces the sliders' one when the server has seen this panel's last
  // release and has changed the pose since (a reset, or a first mount); a pose that
  // predates a release, or one a slider is moving away from, is left alone.
  const incoming = JSON.stringify(data.pose);
  if (data.release >= view.released && incoming !== view.agreed) {
    inputs.forEach((input, d) => {
      input.value = data.pose[d];
      show(d);
    });
    view.agreed = incoming;
    view.released = data.release;
  }
  panel.querySelector("figcaption").textContent = data.caption;
  // what each dimension does changes with the class decoded
  panel.querySelectorAll(".pose").forEach((label, d) => {
    const name = data.labels?.[d] ?? `Dimension ${d + 1}`;
    label.querySelector(".name").textContent = name;
    label.title = data.details?.[d] ?? "";
    inputs[d].setAttribute("aria-label", name);
  });
  draw();
  parentElement.querySelector(".status")?.remove();
  if (data.weights) setStateValue("decoder", data.sha);
}
