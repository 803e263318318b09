// The bedtime player: pick a session, then follow it step by step.
// Plain JavaScript, no build step. The lock screen, headset buttons and a car
// drive it through the Media Session API.
"use strict";
(() => {
  const base = document.body.dataset.base;
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  const SEEK_S = 15;
  const PAUSE_ICON = "M6 5h4v14H6zM14 5h4v14h-4z";
  const PLAY_ICON = "M7 4v16l13-8z";
  const BACK_GRACE_S = 3; // Back within this of a step's start goes to the step before
  let session = null; // the server's answer for the session playing
  let current = -1; // index of the chapter playing
  let play = null; // this play's record: id, start, ms listened
  let lastTime = null;
  let reportTimer = null;

  const clock = (s) => {
    s = Math.max(0, Math.round(s));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };

  function chapterAt(t) {
    const ms = t * 1000;
    let found = 0;
    session.chapters.forEach((c, i) => { if (c.start_ms <= ms + 1) found = i; });
    return found;
  }

  function setMetadata() {
    if (!("mediaSession" in navigator) || !session) return;
    const chapter = session.chapters[current];
    navigator.mediaSession.metadata = new MediaMetadata({
      title: chapter ? chapter.title : session.title,
      artist: "voiceguide",
      album: `${session.title} (${session.variant})`,
      artwork: [{ src: `${base}/cover.png`, sizes: "1400x1400", type: "image/png" }],
    });
  }

  function setPosition() {
    if (!("mediaSession" in navigator) || !isFinite(audio.duration)) return;
    try {
      navigator.mediaSession.setPositionState({
        duration: audio.duration,
        playbackRate: audio.playbackRate,
        position: Math.min(audio.currentTime, audio.duration),
      });
    } catch (e) { /* a position past the end while seeking */ }
  }

  function show() {
    if (!session) return;
    const t = audio.currentTime;
    const index = chapterAt(t);
    if (index !== current) {
      current = index;
      document.querySelectorAll("#steps li").forEach((li, i) => {
        li.classList.toggle("current", i === index);
        if (i === index) li.scrollIntoView({ block: "nearest" });
      });
      setMetadata();
    }
    const chapter = session.chapters[current];
    $("step-left").textContent = clock(chapter.end_ms / 1000 - t);
    $("total-left").textContent = clock(session.total_ms / 1000 - t);
    const playing = !audio.paused;
    $("toggle-icon").setAttribute("d", playing ? PAUSE_ICON : PLAY_ICON);
    $("toggle").setAttribute("aria-label", playing ? "Pause" : "Play");
  }

  function jumpTo(index) {
    index = Math.max(0, Math.min(index, session.chapters.length - 1));
    audio.currentTime = session.chapters[index].start_ms / 1000;
    show();
    setPosition();
  }

  const actions = {
    play: () => audio.play(),
    pause: () => audio.pause(),
    nexttrack: () => jumpTo(chapterAt(audio.currentTime) + 1),
    previoustrack: () => {
      const index = chapterAt(audio.currentTime);
      const into = audio.currentTime - session.chapters[index].start_ms / 1000;
      jumpTo(into < BACK_GRACE_S ? index - 1 : index);
    },
    seekbackward: (d) => { audio.currentTime = Math.max(0, audio.currentTime - ((d && d.seekOffset) || SEEK_S)); setPosition(); },
    seekforward: (d) => { audio.currentTime = Math.min(audio.duration, audio.currentTime + ((d && d.seekOffset) || SEEK_S)); setPosition(); },
    seekto: (d) => { audio.currentTime = d.seekTime; setPosition(); },
  };
  window.voiceguide = { actions, audio }; // for tests and the curious
  if ("mediaSession" in navigator) {
    for (const [name, handler] of Object.entries(actions)) {
      try { navigator.mediaSession.setActionHandler(name, handler); } catch (e) { /* not supported here */ }
    }
  }

  function report(finished) {
    if (!play || !session) return;
    const body = JSON.stringify({
      play: play.id, session: session.key, started: play.started,
      listened_ms: Math.round(play.listened), position_ms: Math.round(audio.currentTime * 1000),
      finished,
    });
    // sendBeacon survives the page being closed; fetch keepalive where it is missing.
    const url = `${base}/api/play`;
    if (!(navigator.sendBeacon && navigator.sendBeacon(url, body))) {
      fetch(url, { method: "POST", body, keepalive: true }).catch(() => {});
    }
  }

  audio.addEventListener("playing", () => {
    if (!play) {
      const id = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)).replace(/[^A-Za-z0-9-]/g, "");
      play = { id: id.padEnd(8, "0"), started: new Date().toISOString(), listened: 0 };
      window.voiceguide.firstSoundMs = performance.now();
    }
    lastTime = audio.currentTime;
    if (!reportTimer) reportTimer = setInterval(() => report(false), 15000);
    if ("mediaSession" in navigator) navigator.mediaSession.playbackState = "playing";
    show();
  });
  audio.addEventListener("timeupdate", () => {
    if (play && !audio.paused && lastTime !== null) {
      const step = audio.currentTime - lastTime;
      if (step > 0 && step < 1.5) play.listened += step * 1000; // a jump is not listening
    }
    lastTime = audio.currentTime;
    show();
  });
  audio.addEventListener("seeked", () => { lastTime = audio.currentTime; show(); setPosition(); });
  audio.addEventListener("loadedmetadata", setPosition);
  audio.addEventListener("pause", () => {
    if ("mediaSession" in navigator) navigator.mediaSession.playbackState = "paused";
    show();
    if (!audio.ended) report(false);
  });
  audio.addEventListener("ended", () => report(true));
  window.addEventListener("pagehide", () => report(audio.ended));

  function begin(answer) {
    session = answer;
    current = -1;
    play = null;
    $("title").textContent = `${session.title} (${session.variant})`;
    const list = $("steps");
    list.replaceChildren(...session.chapters.map((c) => {
      const li = document.createElement("li");
      li.textContent = c.title;
      li.addEventListener("click", () => jumpTo(session.chapters.indexOf(c)));
      return li;
    }));
    $("pick").hidden = true;
    $("now").hidden = false;
    // A media fragment starts the download at the resume point at once.
    audio.src = session.resume_ms ? `${session.audio}#t=${session.resume_ms / 1000}` : session.audio;
    audio.play().catch(show); // autoplay refused: the Play button says so
    show();
  }

  function query() {
    const q = new URLSearchParams({
      routine: $("routine").value,
      variant: document.querySelector("input[name=variant]:checked").value,
    });
    if ($("minutes").value) q.set("minutes", $("minutes").value);
    if ($("music").value) q.set("music", $("music").value);
    return q;
  }

  // A session rendered for the first time plays once its file is complete:
  // the file carries its exact length and chapters (written at the end), so
  // it can be fetched by ranges, seeked and resumed like any podcast episode.
  async function start() {
    window.voiceguide.startMs = performance.now();
    const url = `${base}/api/session?${query()}`;
    $("start").disabled = true;
    $("message").textContent = "";
    for (;;) {
      const response = await fetch(url);
      if (!response.ok) {
        $("message").textContent = (await response.text()).trim();
        break;
      }
      const answer = await response.json();
      if (answer.state === "ready") {
        $("rendering").hidden = true;
        begin(answer);
        break;
      }
      if (answer.state === "failed") {
        $("message").textContent = answer.error;
        break;
      }
      const bar = $("rendering");
      bar.hidden = false;
      bar.value = answer.total ? answer.done / answer.total : 0;
      $("message").textContent = answer.state === "queued"
        ? "Waiting for another session to finish preparing…"
        : `Preparing this session for the first time: ${Math.round(100 * bar.value)}%`;
      await new Promise((r) => setTimeout(r, 400));
    }
    $("start").disabled = false;
  }

  $("start").addEventListener("click", start);
  $("toggle").addEventListener("click", () => (audio.paused ? audio.play() : audio.pause()));
  $("next").addEventListener("click", actions.nexttrack);
  $("back").addEventListener("click", actions.previoustrack);
  $("done").addEventListener("click", () => {
    audio.pause();
    $("now").hidden = true;
    $("pick").hidden = false;
  });
})();
