"use strict";
// A candle chart drawn on a canvas: no library, so nothing is fetched at run time.
// Candles are rows as /data/candles renders them (open_time, open, high, low, close, ...).

(function () {
  const MAX_CANDLES = 240;
  const COLORS = { up: "#2ea043", down: "#e5534b", grid: "#27303a", text: "#8593a3", last: "#4c8dff" };

  class CandleChart {
    constructor(canvas) {
      this.canvas = canvas;
      this.candles = [];
      this.updates = 0;
      window.addEventListener("resize", () => this.draw());
    }

    set(candles) {
      this.candles = candles.slice(-MAX_CANDLES);
      this.draw();
    }

    // A pushed candle: replaces the one with the same open time or is added in order.
    upsert(candle) {
      const list = this.candles;
      const last = list.length ? list[list.length - 1] : null;
      if (last && candle.open_time === last.open_time) {
        list[list.length - 1] = candle;
      } else if (!last || candle.open_time > last.open_time) {
        list.push(candle);
        if (list.length > MAX_CANDLES) list.shift();
      } else {
        const at = list.findIndex((c) => c.open_time >= candle.open_time);
        if (at >= 0 && list[at].open_time === candle.open_time) list[at] = candle;
        else if (at >= 0) list.splice(at, 0, candle);
      }
      this.updates += 1;
      this.canvas.dataset.updates = String(this.updates);
      this.canvas.dataset.lastOpenTime = String(list[list.length - 1].open_time);
      this.canvas.dataset.lastClose = String(list[list.length - 1].close);
      this.draw();
    }

    draw() {
      const canvas = this.canvas;
      const ratio = window.devicePixelRatio || 1;
      const width = canvas.clientWidth || canvas.width;
      const height = canvas.clientHeight || canvas.height;
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
      const ctx = canvas.getContext("2d");
      ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
      ctx.clearRect(0, 0, width, height);
      ctx.font = "11px system-ui, sans-serif";
      const candles = this.candles;
      if (!candles.length) {
        ctx.fillStyle = COLORS.text;
        ctx.fillText("no candles yet", 12, 20);
        return;
      }
      const area = { left: 8, right: width - 70, top: 10, bottom: height - 22 };
      const low = Math.min(...candles.map((c) => c.low));
      const high = Math.max(...candles.map((c) => c.high));
      const span = high - low || Math.abs(high) * 0.001 || 1;
      const y = (price) => area.bottom - ((price - low) / span) * (area.bottom - area.top);
      this.grid(ctx, area, low, span, y);
      // Few candles are drawn as wide as 60 would be; many share the width.
      const step = (area.right - area.left) / Math.max(candles.length, 60);
      const offset = area.right - candles.length * step;
      candles.forEach((c, i) => this.candle(ctx, c, offset + i * step, step, y));
      this.timeAxis(ctx, area, candles, offset, step);
      const last = candles[candles.length - 1];
      ctx.strokeStyle = COLORS.last;
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(area.left, y(last.close));
      ctx.lineTo(area.right, y(last.close));
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = COLORS.last;
      ctx.fillText(formatPrice(last.close), area.right + 6, y(last.close) + 4);
    }

    grid(ctx, area, low, span, y) {
      ctx.strokeStyle = COLORS.grid;
      ctx.fillStyle = COLORS.text;
      for (let i = 0; i <= 4; i += 1) {
        const price = low + (span * i) / 4;
        const at = Math.round(y(price)) + 0.5;
        ctx.beginPath();
        ctx.moveTo(area.left, at);
        ctx.lineTo(area.right, at);
        ctx.stroke();
        ctx.fillText(formatPrice(price), area.right + 6, at + 4);
      }
    }

    candle(ctx, c, x, step, y) {
      const color = c.close >= c.open ? COLORS.up : COLORS.down;
      const body = Math.max(step * 0.7, 1);
      const mid = Math.round(x + step / 2) + 0.5;
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(mid, y(c.high));
      ctx.lineTo(mid, y(c.low));
      ctx.stroke();
      const top = y(Math.max(c.open, c.close));
      const bottom = y(Math.min(c.open, c.close));
      ctx.fillRect(mid - body / 2, top, body, Math.max(bottom - top, 1));
    }

    timeAxis(ctx, area, candles, offset, step) {
      ctx.fillStyle = COLORS.text;
      const every = Math.max(1, Math.ceil(70 / step)); // a label every 70 px at most
      for (let i = 0; i < candles.length; i += every) {
        const t = new Date(candles[i].open_time);
        const label = t.toISOString().slice(11, 16);
        ctx.fillText(label, offset + i * step, area.bottom + 15);
      }
    }
  }

  function formatPrice(value) {
    const abs = Math.abs(value);
    const digits = abs >= 1000 ? 1 : abs >= 10 ? 3 : abs >= 1 ? 4 : 6;
    return value.toFixed(digits);
  }

  window.CandleChart = CandleChart;
})();
