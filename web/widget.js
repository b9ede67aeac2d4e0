// HelpYap widget: a chat bubble with streamed, sourced answers and live social-proof popups.
//
// Installed with one tag: <script src="https://HOST/widget.js" data-project="SLUG" async></script>
// The site's own code may drive it through `window.HelpYap` (open, close, events…; "The page's
// API" below), also before it has loaded, through the stub the README shows.
// With `data-preview` (the admin dashboard's preview frame) it takes its settings from its
// same-origin parent window instead, opens the chat, and shows a sample popup; each new set of
// settings destroys the mounted widget — its timers, listeners and streams — and mounts anew.
// Everything lives in a Shadow DOM, so the host page's CSS cannot break it and it cannot break
// the page. Every text from the server, the model or a push is rendered with textContent —
// never as HTML, and the icons are built as DOM nodes — and only http(s) links are made
// clickable. The assistant's answers are read as a small Markdown subset (`parseMarkdown`) and
// built node by node from it; teammates' replies, the visitor's messages and popups stay plain
// text. Input limits (`maxlength`) come from the config's `limits`; without them, none.
//
// The widget's own words are in `STRINGS`, one table per locale, below. The config's `locale`
// ("auto", the default, follows the browser) picks a table, and its `strings` (key → text)
// replace single entries of it. Texts from the server — the welcome message, answers, popup
// templates, status lines — are shown as sent.
(() => {
  "use strict";

  // ---- Words ----------------------------------------------------------------------------------

  // Every text the widget itself shows, by key; `{name}` marks a value filled in when shown. The
  // English table is the reference: every locale has exactly its keys, and a config's `strings`
  // may override any of them. Keys, in the order of this table:
  //   openChat {name}, openChatUnread {name} {count}, closeChat, chatWith {name}, newChat,
  //   newChatLabel, newChatConfirm, newChatYes, cancel, rateTitle, rateScore {count}, rateComment,
  //   rateSend, rateThanks, conversation, messageLabel,
  //   messagePlaceholder, send, talkToHuman, team {company}, typing, sources, helpful, notHelpful, retry, unavailable, somethingWrong,
  //   cutOff, leadLabel, leadIntro, away, awayUntil {when}, leaveMessage, leadIntroAway, leadEmail, leadName, leadMessage, leadSubmit, leadSending,
  //   leadFailed, leadSent {email}, someone, justNow, secondsAgo {count}, minuteAgo {count},
  //   minutesAgo {count}, hourAgo {count}, hoursAgo {count}, dayAgo {count}, daysAgo {count},
  //   closePopups, dismissMessage
  const STRINGS = {
    en: {
      openChat: "Open chat with {name}", // the closed bubble's label; {name}: the bot's name
      openChatUnread: "Open chat with {name}: {count} unread",
      closeChat: "Close chat",
      chatWith: "Chat with {name}", // the panel's label
      newChat: "New chat",
      newChatLabel: "Start a new conversation",
      newChatConfirm: "Start a new conversation? This one will no longer show here.", // "New chat" asks this first
      newChatYes: "Start new",
      cancel: "Cancel",
      // A resolved conversation asks for a rating: {count} is the score.
      rateTitle: "How would you rate this conversation?",
      rateScore: "{count} out of 5",
      rateComment: "Anything to add? (optional)",
      rateSend: "Send rating",
      rateThanks: "Thanks for rating this conversation!",
      conversation: "Conversation", // the message list's label
      messageLabel: "Your message",
      messagePlaceholder: "Type your question…",
      send: "Send",
      talkToHuman: "Talk to a human",
      team: "{company} team", // a teammate's reply without a name of their own
      typing: "Assistant is typing",
      sources: "Sources:",
      helpful: "Helpful",
      notHelpful: "Not helpful",
      retry: "Retry",
      unavailable: "The assistant is unavailable", // the HTTP status follows it: " (503)"
      somethingWrong: "Something went wrong.",
      cutOff: "The answer was cut off.",
      leadLabel: "Contact a human", // the contact form's label
      leadIntro: "Leave your email and a person from our team will get back to you.",
      // Outside business hours; {when}: when the team is back, e.g. "Monday 9:00 AM".
      away: "We’re away right now. The assistant can still help.",
      awayUntil: "We’re away right now — back {when}. The assistant can still help.",
      leaveMessage: "Leave a message — we’ll email you",
      leadIntroAway: "We’re away right now. Leave your email and we’ll reply when we’re back.",
      leadEmail: "Email",
      leadName: "Name (optional)",
      leadMessage: "Message (optional)",
      leadSubmit: "Send to a human",
      leadSending: "Sending…",
      leadFailed: "Could not send", // the HTTP status follows it: " (500)"
      leadSent: "Thanks! We will email you at {email}.",
      someone: "Someone", // a popup's name when the project hides names
      justNow: "just now", // under 10 seconds
      secondsAgo: "{count} seconds ago",
      minuteAgo: "{count} minute ago",
      minutesAgo: "{count} minutes ago",
      hourAgo: "{count} hour ago",
      hoursAgo: "{count} hours ago",
      dayAgo: "{count} day ago",
      daysAgo: "{count} days ago",
      closePopups: "Hide these notifications", // the popups' close button
      dismissMessage: "Dismiss this message", // a proactive message's close button
    },
    es: {
      openChat: "Abrir el chat con {name}",
      openChatUnread: "Abrir el chat con {name}: {count} sin leer",
      closeChat: "Cerrar el chat",
      chatWith: "Chat con {name}",
      newChat: "Nuevo chat",
      newChatLabel: "Empezar una conversación nueva",
      newChatConfirm: "¿Empezar una conversación nueva? Esta dejará de verse aquí.",
      newChatYes: "Empezar",
      cancel: "Cancelar",
      rateTitle: "¿Cómo valorarías esta conversación?",
      rateScore: "{count} de 5",
      rateComment: "¿Algo que añadir? (opcional)",
      rateSend: "Enviar valoración",
      rateThanks: "¡Gracias por valorar esta conversación!",
      conversation: "Conversación",
      messageLabel: "Tu mensaje",
      messagePlaceholder: "Escribe tu pregunta…",
      send: "Enviar",
      talkToHuman: "Hablar con una persona",
      team: "Equipo de {company}",
      typing: "El asistente está escribiendo",
      sources: "Fuentes:",
      helpful: "Útil",
      notHelpful: "No es útil",
      retry: "Reintentar",
      unavailable: "El asistente no está disponible",
      somethingWrong: "Algo salió mal.",
      cutOff: "La respuesta quedó incompleta.",
      leadLabel: "Contactar con una persona",
      leadIntro: "Déjanos tu correo electrónico y una persona de nuestro equipo te responderá.",
      away: "Ahora no estamos disponibles. El asistente puede ayudarte.",
      awayUntil: "Ahora no estamos disponibles; volvemos {when}. El asistente puede ayudarte.",
      leaveMessage: "Deja un mensaje y te escribiremos",
      leadIntroAway: "Ahora no estamos disponibles. Déjanos tu correo y te responderemos al volver.",
      leadEmail: "Correo electrónico",
      leadName: "Nombre (opcional)",
      leadMessage: "Mensaje (opcional)",
      leadSubmit: "Enviar a una persona",
      leadSending: "Enviando…",
      leadFailed: "No se pudo enviar",
      leadSent: "¡Gracias! Te escribiremos a {email}.",
      someone: "Alguien",
      justNow: "ahora mismo",
      secondsAgo: "hace {count} segundos",
      minuteAgo: "hace {count} minuto",
      minutesAgo: "hace {count} minutos",
      hourAgo: "hace {count} hora",
      hoursAgo: "hace {count} horas",
      dayAgo: "hace {count} día",
      daysAgo: "hace {count} días",
      closePopups: "Ocultar estas notificaciones",
      dismissMessage: "Descartar este mensaje",
    },
    de: {
      openChat: "Chat mit {name} öffnen",
      openChatUnread: "Chat mit {name} öffnen: {count} ungelesen",
      closeChat: "Chat schließen",
      chatWith: "Chat mit {name}",
      newChat: "Neuer Chat",
      newChatLabel: "Neues Gespräch beginnen",
      newChatConfirm: "Neues Gespräch beginnen? Dieses wird hier nicht mehr angezeigt.",
      newChatYes: "Neu beginnen",
      cancel: "Abbrechen",
      rateTitle: "Wie bewerten Sie dieses Gespräch?",
      rateScore: "{count} von 5",
      rateComment: "Möchten Sie etwas ergänzen? (optional)",
      rateSend: "Bewertung senden",
      rateThanks: "Danke für Ihre Bewertung!",
      conversation: "Gespräch",
      messageLabel: "Ihre Nachricht",
      messagePlaceholder: "Ihre Frage…",
      send: "Senden",
      talkToHuman: "Mit einem Menschen sprechen",
      team: "Team {company}",
      typing: "Der Assistent schreibt",
      sources: "Quellen:",
      helpful: "Hilfreich",
      notHelpful: "Nicht hilfreich",
      retry: "Erneut versuchen",
      unavailable: "Der Assistent ist nicht erreichbar",
      somethingWrong: "Etwas ist schiefgelaufen.",
      cutOff: "Die Antwort wurde abgebrochen.",
      leadLabel: "Einen Menschen kontaktieren",
      leadIntro: "Hinterlassen Sie Ihre E-Mail-Adresse, und jemand aus unserem Team meldet sich bei Ihnen.",
      away: "Wir sind gerade nicht da. Der Assistent hilft trotzdem.",
      awayUntil: "Wir sind gerade nicht da – zurück {when}. Der Assistent hilft trotzdem.",
      leaveMessage: "Nachricht hinterlassen – wir schreiben Ihnen",
      leadIntroAway: "Wir sind gerade nicht da. Hinterlassen Sie Ihre E-Mail-Adresse, wir antworten, sobald wir zurück sind.",
      leadEmail: "E-Mail",
      leadName: "Name (optional)",
      leadMessage: "Nachricht (optional)",
      leadSubmit: "An einen Menschen senden",
      leadSending: "Wird gesendet…",
      leadFailed: "Senden fehlgeschlagen",
      leadSent: "Danke! Wir schreiben Ihnen an {email}.",
      someone: "Jemand",
      justNow: "gerade eben",
      secondsAgo: "vor {count} Sekunden",
      minuteAgo: "vor {count} Minute",
      minutesAgo: "vor {count} Minuten",
      hourAgo: "vor {count} Stunde",
      hoursAgo: "vor {count} Stunden",
      dayAgo: "vor {count} Tag",
      daysAgo: "vor {count} Tagen",
      closePopups: "Diese Hinweise ausblenden",
      dismissMessage: "Diese Nachricht schließen",
    },
    fr: {
      openChat: "Ouvrir le chat avec {name}",
      openChatUnread: "Ouvrir le chat avec {name}\u00a0: {count} non lu(s)",
      closeChat: "Fermer le chat",
      chatWith: "Chat avec {name}",
      newChat: "Nouveau chat",
      newChatLabel: "Commencer une nouvelle conversation",
      newChatConfirm: "Commencer une nouvelle conversation ? Celle-ci ne s’affichera plus ici.",
      newChatYes: "Recommencer",
      cancel: "Annuler",
      rateTitle: "Comment évaluez-vous cette conversation\u00a0?",
      rateScore: "{count} sur 5",
      rateComment: "Un commentaire\u00a0? (facultatif)",
      rateSend: "Envoyer la note",
      rateThanks: "Merci d’avoir noté cette conversation\u00a0!",
      conversation: "Conversation",
      messageLabel: "Votre message",
      messagePlaceholder: "Posez votre question…",
      send: "Envoyer",
      talkToHuman: "Parler à une personne",
      team: "L’équipe {company}",
      typing: "L’assistant écrit",
      sources: "Sources\u00a0:",
      helpful: "Utile",
      notHelpful: "Pas utile",
      retry: "Réessayer",
      unavailable: "L’assistant n’est pas disponible",
      somethingWrong: "Une erreur s’est produite.",
      cutOff: "La réponse a été interrompue.",
      leadLabel: "Contacter une personne",
      leadIntro: "Laissez votre e-mail et une personne de notre équipe vous répondra.",
      away: "Nous sommes absents pour le moment. L’assistant peut vous aider.",
      awayUntil: "Nous sommes absents pour le moment — de retour {when}. L’assistant peut vous aider.",
      leaveMessage: "Laisser un message — nous vous écrirons",
      leadIntroAway: "Nous sommes absents pour le moment. Laissez votre e-mail, nous vous répondrons à notre retour.",
      leadEmail: "E-mail",
      leadName: "Nom (facultatif)",
      leadMessage: "Message (facultatif)",
      leadSubmit: "Envoyer à une personne",
      leadSending: "Envoi…",
      leadFailed: "Envoi impossible",
      leadSent: "Merci\u00a0! Nous vous écrirons à {email}.",
      someone: "Quelqu’un",
      justNow: "à l’instant",
      secondsAgo: "il y a {count} secondes",
      minuteAgo: "il y a {count} minute",
      minutesAgo: "il y a {count} minutes",
      hourAgo: "il y a {count} heure",
      hoursAgo: "il y a {count} heures",
      dayAgo: "il y a {count} jour",
      daysAgo: "il y a {count} jours",
      closePopups: "Masquer ces notifications",
      dismissMessage: "Ignorer ce message",
    },
    pt: {
      openChat: "Abrir o chat com {name}",
      openChatUnread: "Abrir o chat com {name}: {count} não lida(s)",
      closeChat: "Fechar o chat",
      chatWith: "Chat com {name}",
      newChat: "Novo chat",
      newChatLabel: "Começar uma nova conversa",
      newChatConfirm: "Começar uma nova conversa? Esta deixará de aparecer aqui.",
      newChatYes: "Começar",
      cancel: "Cancelar",
      rateTitle: "Como avalia esta conversa?",
      rateScore: "{count} de 5",
      rateComment: "Algo a acrescentar? (opcional)",
      rateSend: "Enviar avaliação",
      rateThanks: "Obrigado por avaliar esta conversa!",
      conversation: "Conversa",
      messageLabel: "Sua mensagem",
      messagePlaceholder: "Digite sua pergunta…",
      send: "Enviar",
      talkToHuman: "Falar com uma pessoa",
      team: "Equipe {company}",
      typing: "O assistente está digitando",
      sources: "Fontes:",
      helpful: "Útil",
      notHelpful: "Não foi útil",
      retry: "Tentar novamente",
      unavailable: "O assistente não está disponível",
      somethingWrong: "Algo deu errado.",
      cutOff: "A resposta foi interrompida.",
      leadLabel: "Falar com uma pessoa da equipe",
      leadIntro: "Deixe seu e-mail e uma pessoa da nossa equipe vai responder.",
      away: "Não estamos disponíveis agora. O assistente pode ajudar.",
      awayUntil: "Não estamos disponíveis agora — voltamos {when}. O assistente pode ajudar.",
      leaveMessage: "Deixe uma mensagem — vamos escrever para você",
      leadIntroAway: "Não estamos disponíveis agora. Deixe seu e-mail e responderemos quando voltarmos.",
      leadEmail: "E-mail",
      leadName: "Nome (opcional)",
      leadMessage: "Mensagem (opcional)",
      leadSubmit: "Enviar para uma pessoa",
      leadSending: "Enviando…",
      leadFailed: "Não foi possível enviar",
      leadSent: "Obrigado! Vamos escrever para {email}.",
      someone: "Alguém",
      justNow: "agora mesmo",
      secondsAgo: "há {count} segundos",
      minuteAgo: "há {count} minuto",
      minutesAgo: "há {count} minutos",
      hourAgo: "há {count} hora",
      hoursAgo: "há {count} horas",
      dayAgo: "há {count} dia",
      daysAgo: "há {count} dias",
      closePopups: "Ocultar estas notificações",
      dismissMessage: "Dispensar esta mensagem",
    },
    it: {
      openChat: "Apri la chat con {name}",
      openChatUnread: "Apri la chat con {name}: {count} da leggere",
      closeChat: "Chiudi la chat",
      chatWith: "Chat con {name}",
      newChat: "Nuova chat",
      newChatLabel: "Inizia una nuova conversazione",
      newChatConfirm: "Iniziare una nuova conversazione? Questa non sarà più visibile qui.",
      newChatYes: "Inizia",
      cancel: "Annulla",
      rateTitle: "Come valuti questa conversazione?",
      rateScore: "{count} su 5",
      rateComment: "Qualcosa da aggiungere? (facoltativo)",
      rateSend: "Invia valutazione",
      rateThanks: "Grazie per aver valutato questa conversazione!",
      conversation: "Conversazione",
      messageLabel: "Il tuo messaggio",
      messagePlaceholder: "Scrivi la tua domanda…",
      send: "Invia",
      talkToHuman: "Parla con una persona",
      team: "Team {company}",
      typing: "L’assistente sta scrivendo",
      sources: "Fonti:",
      helpful: "Utile",
      notHelpful: "Non utile",
      retry: "Riprova",
      unavailable: "L’assistente non è disponibile",
      somethingWrong: "Qualcosa è andato storto.",
      cutOff: "La risposta si è interrotta.",
      leadLabel: "Contatta una persona",
      leadIntro: "Lascia la tua email e una persona del nostro team ti risponderà.",
      away: "Al momento non ci siamo. L’assistente può aiutarti.",
      awayUntil: "Al momento non ci siamo — torniamo {when}. L’assistente può aiutarti.",
      leaveMessage: "Lascia un messaggio — ti scriveremo",
      leadIntroAway: "Al momento non ci siamo. Lascia la tua email e ti risponderemo al nostro ritorno.",
      leadEmail: "Email",
      leadName: "Nome (facoltativo)",
      leadMessage: "Messaggio (facoltativo)",
      leadSubmit: "Invia a una persona",
      leadSending: "Invio in corso…",
      leadFailed: "Invio non riuscito",
      leadSent: "Grazie! Ti scriveremo a {email}.",
      someone: "Qualcuno",
      justNow: "proprio ora",
      secondsAgo: "{count} secondi fa",
      minuteAgo: "{count} minuto fa",
      minutesAgo: "{count} minuti fa",
      hourAgo: "{count} ora fa",
      hoursAgo: "{count} ore fa",
      dayAgo: "{count} giorno fa",
      daysAgo: "{count} giorni fa",
      closePopups: "Nascondi queste notifiche",
      dismissMessage: "Ignora questo messaggio",
    },
    nl: {
      openChat: "Chat met {name} openen",
      openChatUnread: "Chat met {name} openen: {count} ongelezen",
      closeChat: "Chat sluiten",
      chatWith: "Chat met {name}",
      newChat: "Nieuwe chat",
      newChatLabel: "Een nieuw gesprek beginnen",
      newChatConfirm: "Een nieuw gesprek beginnen? Dit gesprek is hier dan niet meer te zien.",
      newChatYes: "Opnieuw beginnen",
      cancel: "Annuleren",
      rateTitle: "Hoe beoordeel je dit gesprek?",
      rateScore: "{count} van 5",
      rateComment: "Nog iets toe te voegen? (optioneel)",
      rateSend: "Beoordeling versturen",
      rateThanks: "Bedankt voor je beoordeling!",
      conversation: "Gesprek",
      messageLabel: "Je bericht",
      messagePlaceholder: "Typ je vraag…",
      send: "Versturen",
      talkToHuman: "Met een medewerker praten",
      team: "Team {company}",
      typing: "De assistent is aan het typen",
      sources: "Bronnen:",
      helpful: "Nuttig",
      notHelpful: "Niet nuttig",
      retry: "Opnieuw proberen",
      unavailable: "De assistent is niet beschikbaar",
      somethingWrong: "Er ging iets mis.",
      cutOff: "Het antwoord is afgebroken.",
      leadLabel: "Contact met een medewerker",
      leadIntro: "Laat je e-mailadres achter, dan neemt iemand van ons team contact met je op.",
      away: "We zijn er nu niet. De assistent helpt je graag.",
      awayUntil: "We zijn er nu niet — terug {when}. De assistent helpt je graag.",
      leaveMessage: "Laat een bericht achter — we mailen je",
      leadIntroAway: "We zijn er nu niet. Laat je e-mailadres achter, dan antwoorden we zodra we terug zijn.",
      leadEmail: "E-mail",
      leadName: "Naam (optioneel)",
      leadMessage: "Bericht (optioneel)",
      leadSubmit: "Naar een medewerker sturen",
      leadSending: "Versturen…",
      leadFailed: "Versturen mislukt",
      leadSent: "Bedankt! We mailen je op {email}.",
      someone: "Iemand",
      justNow: "zojuist",
      secondsAgo: "{count} seconden geleden",
      minuteAgo: "{count} minuut geleden",
      minutesAgo: "{count} minuten geleden",
      hourAgo: "{count} uur geleden",
      hoursAgo: "{count} uur geleden",
      dayAgo: "{count} dag geleden",
      daysAgo: "{count} dagen geleden",
      closePopups: "Deze meldingen verbergen",
      dismissMessage: "Dit bericht sluiten",
    },
  };

  const script = document.currentScript;
  if (!script || window.__helpyap) return;
  window.__helpyap = true;
  const project = script.dataset.project;
  if (!project) return console.warn("helpyap: the script tag needs data-project");
  const base = new URL(script.src, location.href).origin;
  const preview = "preview" in script.dataset;
  const key = (name) => `helpyap:${project}:${name}`;
  const load = (name) => { try { return localStorage.getItem(key(name)); } catch { return null; } };
  const save = (name, value) => {
    try {
      if (value == null) localStorage.removeItem(key(name));
      else localStorage.setItem(key(name), value);
    } catch { /* storage blocked */ }
  };
  // The signed-in visitor the page named with `HelpYap.identify` ({user, userHash}), sent with
  // each question. Memory only: the page names them again on every load.
  let visitor = null;
  // This tab's visit only (popups shown, closed): `key`s in sessionStorage — or, where a browser
  // blocks it, in memory for this page, so a visit's marks still hold while it lasts.
  const visitMemory = new Map();
  const sessionGet = (name) => {
    try { return sessionStorage.getItem(name); } catch { return visitMemory.get(name) ?? null; }
  };
  const sessionSet = (name, value) => {
    try { sessionStorage.setItem(name, value); } catch { visitMemory.set(name, value); }
  };
  const api = (path, params) => `${base}${path}?${new URLSearchParams({ project, ...params })}`;

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  letter-spacing: normal; word-spacing: normal; text-transform: none; text-align: left; }
.launcher { position: fixed; bottom: 20px; width: 56px; height: 56px; border-radius: 50%; border: 0;
  background: var(--hy-color); color: #fff; cursor: pointer; box-shadow: 0 4px 16px rgba(0,0,0,.25);
  display: grid; place-items: center; z-index: 2147483646; transition: transform .15s; }
.launcher:hover { transform: scale(1.06); }
.launcher svg { width: 28px; height: 28px; fill: currentColor; }
.right { right: 20px; } .left { left: 20px; }
.panel { position: fixed; bottom: 88px; width: 370px; max-width: calc(100vw - 40px); height: 560px;
  max-height: calc(100vh - 120px); background: #fff; color: #1f2330; border-radius: 14px;
  box-shadow: 0 12px 40px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden;
  z-index: 2147483647; font-size: 14px; line-height: 1.45; }
.panel[hidden] { display: none; }
.away { padding: 8px 16px; background: #fff7e6; color: #7a4b00; font-size: 13px; border-bottom: 1px solid #f3e1b8; }
.away[hidden] { display: none; }
.rating { display: grid; gap: 6px; align-self: flex-start; background: #fff; border: 1px solid #e3e5ee;
  white-space: normal; }
.rating p { margin: 0; }
.rating .stars { display: flex; gap: 2px; }
.rating .stars button, .rating .stars span { border: 0; background: none; font-size: 26px; line-height: 1;
  padding: 2px; color: #c9ccd6; cursor: pointer; }
.rating .stars .on { color: #f2a900; }
.rating textarea { font: inherit; border: 1px solid #d5d8e0; border-radius: 8px; padding: 6px 8px; resize: vertical; }
.rating .send-rating { justify-self: start; border: 0; border-radius: 8px; padding: 6px 12px;
  background: var(--hy-color); color: #fff; cursor: pointer; }
.rating .send-rating:disabled { opacity: .5; cursor: default; }
.rating .error { color: #b42318; font-size: 13px; }
header { background: var(--hy-color); color: #fff; padding: 14px 16px; display: flex; align-items: center;
  gap: 8px; }
header .who { flex: 1; min-width: 0; } header .name { font-weight: 600; font-size: 15px; }
header .company { opacity: .85; font-size: 12px; }
header button { background: transparent; border: 0; color: #fff; cursor: pointer; font-size: 13px; padding: 6px;
  border-radius: 6px; }
.log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 10px;
  background: #f6f7fb; }
.msg { max-width: 85%; padding: 9px 12px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: var(--hy-color); color: #fff; border-bottom-right-radius: 4px; }
.msg.assistant { align-self: flex-start; background: #fff; border: 1px solid #e3e5ee;
  border-bottom-left-radius: 4px; }
.msg.agent { border-color: var(--hy-color); }
.msg .author { font-size: 11px; font-weight: 600; color: var(--hy-color); margin-bottom: 2px; display: flex;
  align-items: center; gap: 6px; }
.msg .author img { width: 20px; height: 20px; border-radius: 50%; object-fit: cover; }
.badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 5px; border-radius: 10px;
  background: #e5484d; color: #fff; font-size: 12px; font-weight: 700; line-height: 20px; text-align: center;
  box-shadow: 0 0 0 2px #fff; }
.badge[hidden], .teaser[hidden] { display: none; }
.teaser { position: fixed; bottom: 88px; max-width: 280px; background: #fff; color: #1f2330; border: 0;
  border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.2); padding: 10px 12px; font-size: 13px; cursor: pointer;
  z-index: 2147483646; display: grid; gap: 2px; }
.teaser strong { font-size: 12px; color: var(--hy-color); }
.teaser span { display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
.nudge { position: fixed; bottom: 88px; display: flex; align-items: flex-start; width: max-content;
  max-width: min(300px, calc(100vw - 40px)); background: #fff; color: #1f2330; border-radius: 12px;
  box-shadow: 0 8px 30px rgba(0,0,0,.2); z-index: 2147483646; animation: hy-rise .25s ease-out; }
.nudge .say { flex: 1; min-width: 0; display: grid; gap: 2px; border: 0; background: none; color: inherit;
  padding: 10px 2px 10px 12px; font-size: 14px; line-height: 1.4; cursor: pointer; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.nudge .say strong { font-size: 12px; color: var(--hy-color); }
.nudge .close { margin: 6px 6px 0 0; }
@keyframes hy-rise { from { opacity: 0; transform: translateY(8px); } }
.msg.error { align-self: stretch; background: #fff3f3; border: 1px solid #f3c7c7; color: #8a1c1c; }
.msg.status { align-self: center; max-width: 100%; padding: 2px 8px; font-size: 12px; color: #555; background: none; border: 0; text-align: center; }
.msg.error button { margin-left: 8px; }
.sources { margin-top: 8px; padding-top: 6px; border-top: 1px solid #eceef4; font-size: 12px; white-space: normal; }
.sources a { color: var(--hy-color); display: block; }
.md { white-space: normal; }
.md > *, .md ul, .md ol { margin: 0; }
.md > * + * { margin-top: 6px; }
.md ul, .md ol { padding-left: 20px; }
.md li + li, .md li > ul, .md li > ol { margin-top: 2px; }
.md a { color: var(--hy-color); }
.md code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9em;
  background: #f0f1f6; border-radius: 4px; padding: 1px 4px; }
.md pre { background: #f0f1f6; border-radius: 8px; padding: 7px 9px; overflow-x: auto; white-space: pre; }
.md pre code { background: none; padding: 0; }
.md .table { overflow-x: auto; }
.md table { border-collapse: collapse; font-size: 13px; }
.md th, .md td { border: 1px solid #e3e5ee; padding: 3px 7px; vertical-align: top; }
.md th { background: #f6f7fb; font-weight: 600; }
.offer { align-self: flex-start; }
.offer button { border: 0; border-radius: 16px; background: var(--hy-color); color: #fff; padding: 6px 14px;
  cursor: pointer; font-size: 13px; font-weight: 600; }
.feedback { margin-top: 6px; display: flex; gap: 4px; }
.feedback button { background: none; border: 1px solid transparent; border-radius: 6px; cursor: pointer;
  color: #4a5068; padding: 2px 5px; opacity: .6; display: grid; place-items: center; }
.feedback button[aria-pressed="true"] { opacity: 1; border-color: #d5d8e3; }
.typing span { display: inline-block; width: 7px; height: 7px; margin: 0 2px; border-radius: 50%;
  background: #9aa0b4; animation: hy-blink 1.2s infinite; }
.typing span:nth-child(2) { animation-delay: .2s; } .typing span:nth-child(3) { animation-delay: .4s; }
@keyframes hy-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
.quick { display: flex; flex-wrap: wrap; gap: 6px; padding: 0 14px 10px; background: #f6f7fb; }
.human { padding: 0 14px 8px; background: #f6f7fb; text-align: right; }
.human button { background: none; border: 0; color: var(--hy-color); cursor: pointer; font-size: 12px;
  text-decoration: underline; padding: 2px; }
.lead { align-self: stretch; background: #fff; border: 1px solid #e3e5ee; border-radius: 12px; padding: 12px;
  display: grid; gap: 8px; }
.lead label { display: grid; gap: 3px; font-size: 12px; color: #4a5068; }
.lead input, .lead textarea { border: 1px solid #d5d8e3; border-radius: 8px; padding: 7px 9px; font-size: 14px; }
.lead button { justify-self: end; border: 0; border-radius: 8px; background: var(--hy-color); color: #fff;
  padding: 7px 14px; cursor: pointer; }
.quick button { border: 1px solid var(--hy-color); color: var(--hy-color); background: #fff; border-radius: 16px;
  padding: 5px 11px; cursor: pointer; font-size: 13px; }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e3e5ee; background: #fff; }
textarea { flex: 1; resize: none; border: 1px solid #d5d8e3; border-radius: 10px; padding: 8px 10px; font-size: 14px;
  max-height: 96px; }
form button { border: 0; border-radius: 10px; background: var(--hy-color); color: #fff; padding: 0 14px;
  cursor: pointer; font-weight: 600; }
form button:disabled { opacity: .5; cursor: default; }
button:focus-visible, textarea:focus-visible, a:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
.confirm { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 8px; padding: 8px 12px; background: #fff8e6;
  border-bottom: 1px solid #f0dca8; font-size: 13px; }
.confirm[hidden] { display: none; }
.confirm span { flex: 1 1 100%; }
.confirm button { border: 1px solid #d5d8e3; background: #fff; border-radius: 8px; padding: 4px 10px; cursor: pointer; }
.confirm button.yes { background: var(--hy-color); border-color: transparent; color: #fff; }
.popup { position: fixed; display: flex; align-items: center; gap: 4px; width: max-content; max-width: 340px;
  background: #fff; color: #1f2330; border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.2);
  padding: 10px 6px 10px 12px; font-size: 14px; line-height: 1.35; z-index: 2147483645;
  border-left: 4px solid var(--hy-color); transition: opacity .3s, transform .3s; }
@media (min-width: 481px) {
  .popup.bottom-right { bottom: 20px; right: 20px; } .popup.bottom-left { bottom: 20px; left: 20px; }
  .popup.top-right { top: 20px; right: 20px; } .popup.top-left { top: 20px; left: 20px; }
  .popup.beside.bottom-right { right: 90px; } .popup.beside.bottom-left { left: 90px; }
}
.popup .card { display: flex; align-items: center; gap: 10px; min-width: 0; color: inherit; text-decoration: none; }
a.card:hover .text { text-decoration: underline; }
.popup .thumb, .popup .type { flex: none; width: 44px; height: 44px; border-radius: 8px; object-fit: cover; }
.popup .type { display: grid; place-items: center; background: #eef0fb; color: var(--hy-color); }
.popup .type svg { width: 22px; height: 22px; fill: currentColor; }
.popup .text { display: block; }
.popup .when { display: block; margin-top: 3px; font-size: 12px; color: #6b7185; }
.popup .close, .nudge .close { flex: none; align-self: flex-start; border: 0; background: transparent; color: #6b7185;
  width: 24px; height: 24px; border-radius: 6px; cursor: pointer; font-size: 18px; line-height: 1; padding: 0; }
.popup .close:hover, .nudge .close:hover { background: #f0f1f6; color: #1f2330; }
.popup.hiding { opacity: 0; transform: translateY(8px); }
@media (max-width: 480px) {
  .panel { inset: 0; width: 100vw; max-width: none; height: 100%; max-height: none; border-radius: 0; }
  .popup { left: max(8px, env(safe-area-inset-left)); right: max(8px, env(safe-area-inset-right));
    width: auto; max-width: none; padding: 6px 4px 6px 8px; font-size: 13px; border-radius: 10px; }
  .popup.phone-bottom { bottom: calc(84px + env(safe-area-inset-bottom)); }
  .popup.phone-top { top: calc(8px + env(safe-area-inset-top)); }
  .popup .thumb, .popup .type { width: 32px; height: 32px; }
  .popup .type svg { width: 18px; height: 18px; }
  .popup .text { display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
  .popup .when { margin-top: 1px; font-size: 11px; }
}
@media (prefers-reduced-motion: reduce) { * { transition: none !important; animation: none !important; } }
`;
  const POLL_MS = 15000;

  // Attributes that are null or undefined are left out.
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value == null) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  };
  // Our own icons, one path each, built as SVG nodes.
  const SVG = "http://www.w3.org/2000/svg";
  const icon = (d, attrs = {}, pathAttrs = {}) => {
    const svg = document.createElementNS(SVG, "svg");
    const path = document.createElementNS(SVG, "path");
    for (const [name, value] of Object.entries({ viewBox: "0 0 24 24", "aria-hidden": "true", ...attrs })) {
      svg.setAttribute(name, value);
    }
    for (const [name, value] of Object.entries({ d, ...pathAttrs })) path.setAttribute(name, value);
    svg.append(path);
    return svg;
  };
  const CHAT_PATH = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z";
  const THUMB_PATH = "M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.4-1L13.2 1 6.6 7.6"
    + "A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z";
  const thumb = (down) => icon(THUMB_PATH, { width: "16", height: "16" },
    { fill: "currentColor", ...(down ? { transform: "rotate(180 12 12)" } : {}) });
  // A `maxlength` from the config's limits; undefined (no attribute) when the server gave none.
  const maxLength = (limits, name) => {
    const value = limits?.[name];
    return Number.isInteger(value) && value > 0 ? String(value) : undefined;
  };

  // ---- Text, pure -----------------------------------------------------------------------------
  // No DOM and no state from here to the next section: unit tests load it (with `STRINGS`) alone.

  // An absolute http(s) URL, normalized; null for anything else (javascript:, data:, relative…).
  const safeUrl = (url) => {
    try {
      const parsed = new URL(url);
      return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
    } catch {
      return null;
    }
  };

  // Whether popups show on the page at `path`: it matches an `include` pattern (or there are
  // none) and no `exclude` pattern. `*` is any characters, `?` one; a trailing slash is ignored.
  function pageShows(pages, path) {
    const trim = (text) => (text.length > 1 ? text.replace(/\/+$/, "") : text);
    const glob = (pattern) => new RegExp(`^${trim(pattern).replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*").replace(/\?/g, ".")}$`);
    let decoded = path;
    try { decoded = decodeURIComponent(path); } catch { /* not valid percent-encoding: as it is */ }
    const matches = (patterns) => (patterns || []).some((pattern) => glob(pattern).test(trim(decoded)));
    return (!pages?.include?.length || matches(pages.include)) && !matches(pages?.exclude);
  }

  // `href` with the project's campaign parameters added (those it has already are kept); null
  // for anything but an http(s) URL.
  function withUtm(href, utm) {
    const safe = safeUrl(href);
    if (!safe) return null;
    const url = new URL(safe);
    for (const [name, value] of [["utm_source", utm?.source], ["utm_medium", utm?.medium], ["utm_campaign", utm?.campaign]]) {
      if (value && !url.searchParams.has(name)) url.searchParams.set(name, value);
    }
    return url.href;
  }

  const LOCALES = Object.keys(STRINGS);

  // The locale for the config's `locale`: a locale of ours by its primary subtag ("pt-BR" is pt);
  // "auto", empty or missing takes the first of the browser's `preferred` languages we have.
  // English when nothing fits.
  function pickLocale(setting, preferred) {
    const primary = (tag) => String(tag || "").trim().toLowerCase().split(/[-_]/)[0];
    const wanted = !setting || setting === "auto" ? preferred || [] : [setting];
    return wanted.map(primary).find((tag) => LOCALES.includes(tag)) || "en";
  }

  const hasOwn = (object, name) =>
    object !== null && typeof object === "object" && Object.prototype.hasOwnProperty.call(object, name);

  // `t(key, vars)` for `locale`: the owner's text for the key from `overrides` (the config's
  // `strings`) when it is a non-empty string, else the locale's, else the English one. Each
  // `{name}` in it becomes `vars.name`; one without a value stays as written.
  function translator(locale, overrides) {
    const table = STRINGS[locale] || STRINGS.en;
    return (key, vars) => {
      const own = hasOwn(overrides, key) && typeof overrides[key] === "string" ? overrides[key] : "";
      const template = own || table[key] || STRINGS.en[key] || key;
      return template.replace(/\{(\w+)\}/g, (whole, name) => (hasOwn(vars, name) ? String(vars[name]) : whole));
    };
  }

  // Markdown, the part of it assistants write: paragraphs, whose line breaks are kept; headings,
  // shown as bold paragraphs; "- ", "* " and "1. " lists, nested by indentation; pipe tables;
  // ``` code blocks; and inline **bold**, *italic*, _italic_, `code` and [text](url). Anything
  // else — HTML included — is text. A construct not yet finished ("**bo" while the answer still
  // streams) is text until it is, so parsing again on each delta never shows half a format.
  //
  // The blocks returned: {type: "paragraph" | "heading", children}, {type: "code", text},
  // {type: "list", ordered, start, items: [{children, lists}]}, {type: "table", head, rows}
  // (head: cells, rows: arrays of cells). Children and cells are arrays of inline nodes:
  // {type: "text", text}, {type: "break"}, {type: "strong" | "em", children}, {type: "code", text},
  // {type: "link", href, children}. A link's href is always an absolute http(s) URL: a link to
  // anything else is only its text.
  function parseMarkdown(text) {
    const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
    const blocks = [];
    let i = 0;
    while (i < lines.length) {
      if (!lines[i].trim()) {
        i += 1;
        continue;
      }
      const heading = headingOf(lines[i]);
      if (heading !== null) {
        blocks.push({ type: "heading", children: parseInline(heading) });
        i += 1;
        continue;
      }
      if (ITEM.test(lines[i])) {
        const list = listAt(lines, i);
        blocks.push(...list.blocks);
        i = list.end;
        continue;
      }
      const found = fenceAt(lines, i) || tableAt(lines, i);
      if (found) {
        blocks.push(found.block);
        i = found.end;
        continue;
      }
      // A paragraph: up to a blank line or a line that starts a block of another kind.
      const start = i;
      do i += 1; while (i < lines.length && lines[i].trim() && !startsBlock(lines, i));
      const paragraph = lines.slice(start, i).map((line) => line.trim()).join("\n");
      blocks.push({ type: "paragraph", children: parseInline(paragraph) });
    }
    return blocks;
  }

  const ITEM = /^([ \t]*)([-*]|\d{1,9}\.)[ \t]+(.*)$/;
  const HEADING = /^ {0,3}#{1,6}[ \t]+(.*)$/;
  const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
  // Of a trimmed line. (Written so no two parts can match the same spaces: no slow backtracking.)
  const SEPARATOR = /^\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?$/;

  const startsBlock = (lines, i) =>
    headingOf(lines[i]) !== null || ITEM.test(lines[i]) || opensFence(lines[i]) || isTableStart(lines, i);

  // "```" or "~~~", with an optional language after it; "```x```" is inline code, not a fence.
  function opensFence(line) {
    const open = FENCE.exec(line);
    return open !== null && !(open[1][0] === "`" && open[2].includes("`"));
  }

  // A heading's text, without closing "#"s ("## Plans ##"); null when the line is none, or only
  // "#" (an answer may stop right there). Trimmed by hand: a regex would backtrack over spaces.
  function headingOf(line) {
    const match = HEADING.exec(line);
    if (!match) return null;
    let text = match[1].trimEnd();
    let end = text.length;
    while (end > 0 && text[end - 1] === "#") end -= 1;
    const closed = end < text.length && (end === 0 || text[end - 1] === " " || text[end - 1] === "\t");
    if (closed) text = text.slice(0, end).trimEnd();
    return text.trim() ? text : null;
  }

  // A ``` (or ~~~) block from its opening line to its closing one — or to the end: the rest of a
  // streaming answer is code until the fence closes.
  function fenceAt(lines, start) {
    if (!opensFence(lines[start])) return null;
    const open = FENCE.exec(lines[start]);
    const closes = (line) => {
      const close = /^ {0,3}(`+|~+)[ \t]*$/.exec(line);
      return close !== null && close[1][0] === open[1][0] && close[1].length >= open[1].length;
    };
    let i = start + 1;
    while (i < lines.length && !closes(lines[i])) i += 1;
    return { block: { type: "code", text: lines.slice(start + 1, i).join("\n") }, end: Math.min(i + 1, lines.length) };
  }

  // A header row with pipes, then a separator row ("|---|:--:|") with as many cells.
  const isTableStart = (lines, i) => lines[i].includes("|") && i + 1 < lines.length
    && lines[i + 1].includes("|") && SEPARATOR.test(lines[i + 1].trim())
    && splitRow(lines[i]).length === splitRow(lines[i + 1]).length;

  // A pipe table: its rows go on while lines have pipes; each row has the header's width.
  function tableAt(lines, start) {
    if (!isTableStart(lines, start)) return null;
    const head = splitRow(lines[start]);
    const rows = [];
    let i = start + 2;
    for (; i < lines.length && lines[i].trim() && lines[i].includes("|"); i += 1) {
      const cells = splitRow(lines[i]);
      rows.push(head.map((_, column) => parseInline(cells[column] || "")));
    }
    return { block: { type: "table", head: head.map((cell) => parseInline(cell)), rows }, end: i };
  }

  // A row's cells, trimmed; the outer pipes are optional and "\|" is a pipe inside a cell.
  function splitRow(line) {
    const text = line.trim();
    const cells = [];
    let cell = "";
    for (let i = 0; i < text.length; i += 1) {
      if (text[i] === "\\" && text[i + 1] === "|") { cell += "|"; i += 1; }
      else if (text[i] === "|") { cells.push(cell); cell = ""; }
      else cell += text[i];
    }
    cells.push(cell);
    if (text.startsWith("|")) cells.shift();
    if (text.length > 1 && text.endsWith("|") && !text.endsWith("\\|")) cells.pop();
    return cells.map((each) => each.trim());
  }

  // The items from `start` on, and the lines that go on with them; where the lists end. A blank
  // line keeps the list when an item or an indented line follows it (a "loose" list).
  function listAt(lines, start) {
    const entries = [];
    let i = start;
    while (i < lines.length) {
      const item = ITEM.exec(lines[i]);
      if (item) {
        const ordered = item[2] !== "-" && item[2] !== "*";
        entries.push({
          indent: item[1].replace(/\t/g, "    ").length, ordered, start: ordered ? parseInt(item[2], 10) : 1,
          lines: [item[3]],
        });
        i += 1;
      } else if (lines[i].trim()) {
        if (!/^[ \t]/.test(lines[i])) break; // not indented: the list is over
        entries[entries.length - 1].lines.push(lines[i].trim());
        i += 1;
      } else {
        let next = i + 1;
        while (next < lines.length && !lines[next].trim()) next += 1;
        if (next === lines.length || !(ITEM.test(lines[next]) || /^( {2,}|\t)\S/.test(lines[next]))) break;
        i = next;
      }
    }
    return { blocks: nestList(entries), end: i };
  }

  // Items into lists: an item indented deeper than the one above opens a list inside that one; a
  // switch between "-" and "1." at one depth starts a new list beside the last.
  function nestList(entries) {
    const top = [];
    const open = []; // the lists items may still join, outermost first: {indent, list, into}
    for (const entry of entries) {
      while (open.length && entry.indent < open[open.length - 1].indent) open.pop();
      const level = open[open.length - 1];
      const item = { children: parseInline(entry.lines.join("\n")), lists: [] };
      if (level && entry.indent === level.indent && level.list.ordered === entry.ordered) {
        level.list.items.push(item);
        continue;
      }
      const list = { type: "list", ordered: entry.ordered, start: entry.start, items: [item] };
      if (level && entry.indent > level.indent) {
        const parent = level.list.items[level.list.items.length - 1];
        parent.lists.push(list);
        open.push({ indent: entry.indent, list, into: parent.lists });
      } else {
        const into = level ? level.into : top;
        into.push(list);
        if (level) open.pop();
        open.push({ indent: entry.indent, list, into });
      }
    }
    return top;
  }

  // ASCII punctuation, which a backslash makes literal: "\*" is a star, not emphasis.
  const PUNCTUATION = /[!-\/:-@\[-`{-~]/;
  const WORD = /[\p{L}\p{N}]/u;
  const SPACE = /\s/;
  // Emphasis inside emphasis this deep is text: a hostile answer cannot recurse without end.
  const MAX_NESTING = 8;

  // The inline nodes of a paragraph, item or cell; "\n" is a line break.
  function parseInline(source, depth = 0, inLink = false) {
    const nodes = [];
    let plain = "";
    // Where a search for a closing run (by its characters, "**") found none before the end: a
    // later search for it cannot either, so text full of lone "*" is read in linear time.
    const misses = new Map();
    const flush = () => {
      if (plain) nodes.push({ type: "text", text: plain });
      plain = "";
    };
    let i = 0;
    while (i < source.length) {
      const char = source[i];
      if (char === "\\" && PUNCTUATION.test(source[i + 1] || "")) {
        plain += source[i + 1];
        i += 2;
        continue;
      }
      if (char === "\n") {
        flush();
        nodes.push({ type: "break" });
        i += 1;
        continue;
      }
      let found = null;
      if (char === "`") found = codeSpanAt(source, i, misses);
      else if (char === "[" && !inLink) found = linkAt(source, i, depth);
      else if ("*_".includes(char) && depth < MAX_NESTING) found = emphasisAt(source, i, depth, inLink, misses);
      if (found) {
        flush();
        nodes.push(...found.nodes);
        i = found.end;
        continue;
      }
      // Starts nothing: text, and a run of delimiters all of it ("***" is never split).
      const run = "`*_".includes(char) ? runAt(source, i) : 1;
      plain += source.slice(i, i + run);
      i += run;
    }
    flush();
    return mergeText(nodes);
  }

  // How many times the character at `start` repeats from there.
  function runAt(source, start) {
    let end = start;
    while (source[end] === source[start]) end += 1;
    return end - start;
  }

  // `code`: a run of backticks up to the next run just as long; the text inside is literal.
  function codeSpanAt(source, start, misses = new Map()) {
    const length = runAt(source, start);
    const opening = source.slice(start, start + length);
    if (start >= (misses.get(opening) ?? Infinity)) return null;
    for (let i = start + length; i < source.length;) {
      if (source[i] !== "`") { i += 1; continue; }
      const run = runAt(source, i);
      if (run === length) {
        let text = source.slice(start + length, i).replace(/\n/g, " ");
        if (text.length > 1 && text.startsWith(" ") && text.endsWith(" ") && text.trim()) text = text.slice(1, -1);
        return { nodes: [{ type: "code", text }], end: i + run };
      }
      i += run;
    }
    misses.set(opening, start);
    return null;
  }

  // [text](url) or [text](url "title"): a link when the URL is http(s), else only its text.
  function linkAt(source, start, depth) {
    const close = labelEnd(source, start);
    if (close < 0 || source[close + 1] !== "(") return null;
    DESTINATION.lastIndex = close + 2;
    const target = DESTINATION.exec(source);
    if (!target) return null;
    const children = parseInline(source.slice(start + 1, close), depth + 1, true);
    const end = DESTINATION.lastIndex;
    const href = safeUrl(target[1].startsWith("<") ? target[1].slice(1, -1) : target[1]);
    if (!href) return { nodes: children, end };
    const label = children.length ? children : [{ type: "text", text: href }];
    return { nodes: [{ type: "link", href, children: label }], end };
  }
  const MAX_LABEL = 1000;
  // After "(": a URL (in <>, or without spaces, with balanced parentheses), an optional title, ")".
  const DESTINATION =
    /[ \t]*(<[^<>\n]*>|[^\s()<>]*(?:\([^\s()<>]*\)[^\s()<>]*)*)(?:[ \t]+(?:"[^"\n]*"|'[^'\n]*'))?[ \t]*\)/y;

  // The "]" that closes the "[" at `start` (brackets nest; code and escapes do not count); -1 if
  // none within MAX_LABEL characters: no link text is longer, and text full of "[" stays fast.
  function labelEnd(source, start) {
    let nesting = 0;
    for (let i = start; i < Math.min(source.length, start + MAX_LABEL); i += 1) {
      const char = source[i];
      if (char === "\\") i += 1;
      else if (char === "`") {
        const span = codeSpanAt(source, i);
        i = (span ? span.end : i + runAt(source, i)) - 1;
      } else if (char === "[") nesting += 1;
      else if (char === "]" && --nesting === 0) return i;
    }
    return -1;
  }

  // *em*, _em_, **strong**, __strong__, ***both***: the opening run must touch a word after it
  // (and "_" not be inside one, as in snake_case), and a run of the same length closes it.
  function emphasisAt(source, start, depth, inLink, misses) {
    const char = source[start];
    const length = runAt(source, start);
    const after = source[start + length] || " ";
    if (length > 3 || SPACE.test(after) || (char === "_" && WORD.test(source[start - 1] || " "))) return null;
    const close = closerAt(source, start + length, char.repeat(length), misses);
    if (close < 0) return null;
    const children = parseInline(source.slice(start + length, close), depth + 1, inLink);
    const node = length === 1 ? { type: "em", children }
      : length === 2 ? { type: "strong", children }
        : { type: "strong", children: [{ type: "em", children }] };
    return { nodes: [node], end: close + length };
  }

  // Where the run (`closing`: "*", "__"…) that closes emphasis opened just before `from` starts;
  // -1 if there is none (yet).
  function closerAt(source, from, closing, misses) {
    const char = closing[0], length = closing.length;
    if (from >= (misses.get(closing) ?? Infinity)) return -1;
    for (let i = from; i < source.length;) {
      if (source[i] === "\\") { i += 2; continue; }
      if (source[i] === "`") {
        const span = codeSpanAt(source, i);
        i = span ? span.end : i + runAt(source, i);
        continue;
      }
      if (source[i] !== char) { i += 1; continue; }
      const run = runAt(source, i);
      const after = source[i + run] || " ";
      if (run === length && i > from && !SPACE.test(source[i - 1]) && !(char === "_" && WORD.test(after))) return i;
      i += run;
    }
    misses.set(closing, from);
    return -1;
  }

  // Adjacent text nodes as one (a link dropped for its URL leaves its text beside other text).
  function mergeText(nodes) {
    const merged = [];
    for (const node of nodes) {
      const last = merged[merged.length - 1];
      if (node.type === "text" && last && last.type === "text") {
        merged[merged.length - 1] = { type: "text", text: last.text + node.text };
      } else {
        merged.push(node);
      }
    }
    return merged;
  }

  // ---- Markdown, drawn ------------------------------------------------------------------------

  // Replaces `node`'s children with `text` read as Markdown (`parseMarkdown`), built as DOM nodes:
  // every text goes in as a text node, every link is an http(s) URL opened in a new tab.
  function renderMarkdown(node, text) {
    node.replaceChildren(...parseMarkdown(text).map(blockNode));
  }

  function blockNode(block) {
    if (block.type === "heading") return el("p", {}, el("strong", {}, ...inlineNodes(block.children)));
    if (block.type === "code") return el("pre", {}, el("code", { text: block.text }));
    if (block.type === "list") return listNode(block);
    if (block.type === "table") return tableNode(block);
    return el("p", {}, ...inlineNodes(block.children));
  }

  function listNode(list) {
    const start = list.ordered && list.start !== 1 ? String(list.start) : null;
    return el(list.ordered ? "ol" : "ul", { start },
      ...list.items.map((item) => el("li", {}, ...inlineNodes(item.children), ...item.lists.map(listNode))));
  }

  // In a box of its own, which scrolls sideways when the table is wider than the bubble.
  function tableNode(table) {
    const row = (cells, tag) => el("tr", {}, ...cells.map((cell) =>
      el(tag, tag === "th" ? { scope: "col" } : {}, ...inlineNodes(cell))));
    return el("div", { class: "table" }, el("table", {},
      el("thead", {}, row(table.head, "th")), el("tbody", {}, ...table.rows.map((cells) => row(cells, "td")))));
  }

  const inlineNodes = (nodes) => nodes.map(inlineNode);

  // A string is appended as a text node, never parsed.
  function inlineNode(node) {
    if (node.type === "text") return node.text;
    if (node.type === "break") return el("br");
    if (node.type === "code") return el("code", { text: node.text });
    if (node.type === "link") {
      const attrs = { href: node.href, target: "_blank", rel: "noopener noreferrer nofollow" };
      return el("a", attrs, ...inlineNodes(node.children));
    }
    return el(node.type === "strong" ? "strong" : "em", {}, ...inlineNodes(node.children));
  }

  // ---- Scopes and HTTP ----------------------------------------------------------------------

  // Everything a mounted widget starts beyond its own nodes — timers, listeners on document,
  // sockets, event streams, fetches (through `signal`) — is registered here, and `destroy()`
  // stops all of it. Registering on a destroyed scope stops the thing at once.
  function scope() {
    const cleanups = new Set();
    const aborter = new AbortController();
    let alive = true;
    // Registers `cleanup`; the returned function runs it early (once) and forgets it.
    const own = (cleanup) => {
      if (!alive) {
        cleanup();
        return () => {};
      }
      cleanups.add(cleanup);
      return () => { if (cleanups.delete(cleanup)) cleanup(); };
    };
    return {
      own,
      signal: aborter.signal,
      timeout(fn, ms) {
        const id = setTimeout(() => { cancel(); fn(); }, ms);
        const cancel = own(() => clearTimeout(id));
        return cancel;
      },
      interval(fn, ms) {
        const id = setInterval(fn, ms);
        return own(() => clearInterval(id));
      },
      listen(target, type, fn) {
        target.addEventListener(type, fn);
        return own(() => target.removeEventListener(type, fn));
      },
      destroy() {
        alive = false;
        aborter.abort();
        for (const cleanup of cleanups) cleanup();
        cleanups.clear();
      },
    };
  }

  // A failed response as an Error carrying `status`: the server's message, or `fallback (STATUS)`.
  async function failure(response, fallback = "Request failed") {
    const body = await response.json().catch(() => null);
    return Object.assign(new Error(body?.error || `${fallback} (${response.status})`), { status: response.status });
  }

  // Every JSON call to the widget API (all but the streamed chat answer): a GET carries the
  // project in its query, other methods send `body` as JSON. Resolves to the parsed answer (null
  // when there is none); rejects with `failure`'s Error, or fetch's own when offline or aborted.
  async function http(method, path, { params, body, token, signal, fallback } = {}) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers["X-Session-Token"] = token;
    const response = await fetch(method === "GET" ? api(path, params) : `${base}${path}`, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await failure(response, fallback);
    return response.json().catch(() => null);
  }

  // Calls `onData` with each `data:` line's text of an SSE response, until it ends.
  async function readData(response, onData) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      pending += decoder.decode(value, { stream: true });
      let end;
      while ((end = pending.indexOf("\n\n")) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        for (const line of block.split("\n")) if (line.startsWith("data: ")) onData(line.slice(6));
      }
    }
  }

  // ---- Start ----------------------------------------------------------------------------------

  async function start() {
    let loaded;
    try {
      loaded = await loadConfig(null);
    } catch (error) {
      return console.warn("helpyap: widget not started:", error.message);
    }
    pageApi.start(loaded.config, loaded.etag);
  }

  // The project's widget config and its ETag; null when it is still `etag` (304).
  async function loadConfig(etag) {
    const response = await fetch(api("/api/widget/config"), { headers: etag ? { "If-None-Match": etag } : {} });
    if (response.status === 304) return null;
    if (!response.ok) throw await failure(response, "config");
    return { config: await response.json(), etag: response.headers.get("ETag") };
  }

  // Preview: every settings message from the dashboard (same origin only) re-mounts the widget,
  // with the chat open (`helpyapPreviewView: "chat"`, the default) or closed beside a sample popup.
  function startPreview() {
    let mounted = null;
    addEventListener("message", (event) => {
      if (event.origin !== location.origin || event.source !== parent || !event.data?.helpyapPreview) return;
      mounted?.destroy();
      mounted = mount(event.data.helpyapPreview, (event.data.helpyapPreviewView || "chat") === "chat");
    });
    parent.postMessage({ helpyapPreviewReady: true }, location.origin);
  }

  // Mounts the widget for `config`; returns its scope, whose `destroy()` takes it all away. A
  // preview opens the chat when `previewOpen`, else shows a sample popup.
  function mount(config, previewOpen) {
    const life = scope();
    const locale = pickLocale(config.locale, navigator.languages?.length ? navigator.languages : [navigator.language]);
    const t = translator(locale, config.strings);
    // A tag of our own, reset inline: page rules like `div { … }` cannot reach it, and inherited
    // properties (letter-spacing, line-height…) stop at it. Its `lang` is the widget's, not the
    // page's, for screen readers' voices and for hyphenation.
    const host = el("helpyap-widget", { id: "helpyap-widget", style: "all: initial", lang: locale });
    document.body.append(host);
    life.own(() => host.remove());
    const root = host.attachShadow({ mode: "open" });
    const color = /^#[0-9a-fA-F]{3,6}$/.test(config.theme?.primaryColor) ? config.theme.primaryColor : "#3737f6";
    const side = config.theme?.position === "bottom-left" ? "left" : "right";
    host.style.setProperty("--hy-color", color);
    root.append(el("style", { text: CSS }));
    const chat = createChat(root, config, side, life, t, locale);
    life.chat = chat;
    if (preview && previewOpen) chat.open();
    else {
      const nudge = createNudge(root, config, side, chat, life, t);
      createPopups(root, config.socialProof, side, chat, nudge, life, t, locale);
    }
    return life;
  }

  // ---- Chat ---------------------------------------------------------------------------------

  function createChat(root, config, side, life, t, locale) {
    const launcher = el("button", {
      class: `launcher ${side}`, type: "button", "aria-label": t("openChat", { name: config.name }),
      "aria-expanded": "false",
    }, icon(CHAT_PATH));
    // Unread teammates' replies while the chat is closed: a count on the bubble, the last one above it.
    const badge = el("span", { class: "badge", hidden: "", "aria-hidden": "true" });
    launcher.append(badge);
    const teaser = el("button", { class: `teaser ${side}`, type: "button", hidden: "" });
    const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": t("conversation") });
    const quick = el("div", { class: "quick" });
    const input = el("textarea", {
      rows: "1", "aria-label": t("messageLabel"), placeholder: t("messagePlaceholder"),
      maxlength: maxLength(config.limits, "messageChars"),
    });
    const send = el("button", { type: "submit", text: t("send") });
    const form = el("form", {}, input, send);
    // Outside the project's business hours: when the team is back (null when unknown), else
    // `false` (in, or no hours kept).
    let away = false;
    const humanLabel = () => t(away === false ? "talkToHuman" : "leaveMessage");
    const human = el("div", { class: "human", hidden: "" },
      el("button", { type: "button", text: humanLabel(), onclick: () => showLeadForm() }));
    const awayLine = el("div", { class: "away", role: "status", hidden: "" });
    const header = el("header", {},
      el("div", { class: "who" },
        el("div", { class: "name", text: config.name }), el("div", { class: "company", text: config.company || "" })),
      el("button", {
        type: "button", text: t("newChat"), "aria-label": t("newChatLabel"), onclick: () => confirmNewChat(),
      }),
      el("button", { type: "button", text: "✕", "aria-label": t("closeChat"), onclick: () => toggle(false) }));
    const panel = el("div", {
      class: `panel ${side}`, role: "dialog", "aria-label": t("chatWith", { name: config.name }), hidden: "",
      lang: locale,
    }, header, awayLine, log, quick, human, form);
    root.append(panel, teaser, launcher);

    let sessionId = load("sessionId");
    let token = load("token");
    const updateHuman = () => { human.hidden = !token; };
    updateHuman();

    // ---- Business hours: the server says whether the team is in and when that changes; the
    // widget asks again then (at least every 6 hours). Away, it says when the team is back and
    // "Talk to a human" becomes "Leave a message"; the assistant answers as ever.
    async function checkHours() {
      if (!config.businessHours?.enabled || preview) return;
      let hours;
      try {
        hours = await call("GET", "/api/widget/availability");
      } catch {
        hours = null;
      }
      if (!hours || typeof hours.open !== "boolean") return life.timeout(checkHours, 60000); // try again in a minute
      away = hours.open ? false : (hours.changesAt || null);
      let when = "";
      if (away) {
        try {
          // Within the week its weekday says which day; further off, the date too.
          const far = Date.parse(away) - Date.now() > 6 * 24 * 3600 * 1000;
          when = new Intl.DateTimeFormat(locale, {
            weekday: "long", hour: "numeric", minute: "2-digit", ...(far ? { month: "long", day: "numeric" } : {}),
          }).format(new Date(away));
        } catch { when = new Date(away).toLocaleString(); }
      }
      awayLine.textContent = away === false ? "" : when ? t("awayUntil", { when }) : t("away");
      awayLine.hidden = away === false;
      for (const button of root.querySelectorAll(".human button, .offer button")) button.textContent = humanLabel();
      const intro = log.querySelector(".lead .intro");
      if (intro) intro.textContent = t(away === false ? "leadIntro" : "leadIntroAway");
      const next = hours.changesAt ? Date.parse(hours.changesAt) - Date.now() + 500 : Infinity;
      life.timeout(checkHours, Math.max(5000, Math.min(next, 6 * 3600 * 1000)));
    }
    let busy = false;
    let restored = false;
    let restoring = null; // the stored conversation being put on screen
    // The stored conversation is on screen (after `restore`): live news is shown, not only counted.
    let rendered = false;
    // This mount's JSON calls: stopped when it is destroyed.
    const call = (method, path, options) => http(method, path, { signal: life.signal, ...options });

    // Called whenever the chat opens, however it was opened, and when a teammate's reply comes
    // while it is closed.
    const openers = new Set(), unreadWatchers = new Set();
    function toggle(open, focus = true) {
      if (open === !panel.hidden) return;
      pageApi.emit(open ? "open" : "close");
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      launcher.setAttribute("aria-label", open ? t("closeChat") : t("openChat", { name: config.name }));
      if (open) {
        markRead();
        log.scrollTop = log.scrollHeight; // replies may have come while it was closed
        if (!restored) { restored = true; restoring = restore(); }
        for (const opened of openers) opened();
        if (focus) input.focus();
      } else {
        launcher.focus();
      }
    }
    launcher.addEventListener("click", () => toggle(panel.hidden));
    teaser.addEventListener("click", () => toggle(true));
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") return toggle(false);
      if (event.key !== "Tab") return;
      // Keep focus inside the open panel.
      const focusable = [...panel.querySelectorAll("button, textarea, input, a[href]")]
        .filter((node) => !node.disabled && node.offsetParent !== null);
      const first = focusable[0], last = focusable[focusable.length - 1];
      const active = root.activeElement;
      if (event.shiftKey && active === first) { last.focus(); event.preventDefault(); }
      else if (!event.shiftKey && active === last) { first.focus(); event.preventDefault(); }
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (text && !busy) { input.value = ""; ask(text); }
    });

    // The highest message seq shown; message ids are `SESSION-SEQ`.
    const seqOf = (id) => Number(String(id || "").split("-").pop()) || 0;
    let seen = 0;
    // The conversation's status the visitor was last told of, so a status line is not repeated.
    let lastStatus = null;
    let unread = 0;

    function showWelcome() {
      log.replaceChildren();
      if (config.welcomeMessage) log.append(el("div", { class: "msg assistant welcome", text: config.welcomeMessage }));
      quick.replaceChildren(...(config.quickReplies || []).map((reply) =>
        el("button", { type: "button", text: reply, onclick: () => { if (!busy) { input.focus(); ask(reply); } } })));
    }
    showWelcome();

    function bubble(role, text) {
      const node = el("div", { class: `msg ${role}`, text });
      log.append(node);
      log.scrollTop = log.scrollHeight;
      return node;
    }
    // An assistant's answer: its Markdown drawn in a first child of its own, so the sources and
    // thumbs that follow it are not redrawn with it.
    function answerBubble(text) {
      const node = bubble("assistant");
      const body = el("div", { class: "md" });
      renderMarkdown(body, String(text ?? ""));
      node.append(body);
      return node;
    }
    function addSources(node, sources) {
      if (!sources.length) return;
      const list = el("div", { class: "sources" }, el("div", { text: t("sources") }));
      for (const source of sources) {
        const url = source.url && safeUrl(source.url);
        list.append(url
          ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: source.title || url })
          : el("span", { text: source.title || "" }));
      }
      node.append(list);
    }

    // Thumbs on an answer (pressed as `given` says, after a reload), sent as the visitor clicks;
    // the latest click counts.
    function addFeedback(node, messageId, given = null) {
      if (!messageId) return;
      const row = el("div", { class: "feedback" });
      for (const [rating, label, down] of [["up", t("helpful"), false], ["down", t("notHelpful"), true]]) {
        const button = el("button", { type: "button", "aria-label": label, "aria-pressed": String(given === rating) },
          thumb(down));
        button.addEventListener("click", async () => {
          try {
            await call("POST", "/api/widget/feedback", {
              body: { projectSlug: project, sessionId, sessionToken: token, messageId, rating },
            });
            for (const other of row.querySelectorAll("button")) {
              other.setAttribute("aria-pressed", String(other === button));
            }
          } catch { /* refused or offline: nothing recorded */ }
        });
        row.append(button);
      }
      node.append(row);
    }

    // "New chat" asks first, in the panel: the conversation leaves this window for good.
    const confirmBar = el("div", { class: "confirm", role: "alertdialog", hidden: "" },
      el("span", { text: t("newChatConfirm") }),
      el("button", { type: "button", class: "yes", text: t("newChatYes"), onclick: () => {
        confirmBar.hidden = true;
        newConversation();
      } }),
      el("button", { type: "button", text: t("cancel"), onclick: () => { confirmBar.hidden = true; input.focus(); } }));
    header.after(confirmBar);
    function confirmNewChat() {
      if (!sessionId) return newConversation(); // nothing to lose
      confirmBar.hidden = false;
      confirmBar.querySelector("button.yes").focus();
    }

    function newConversation() {
      stopListening();
      sessionId = null; token = null; seen = 0; lastStatus = null;
      save("sessionId", null); save("token", null); save("read", null);
      markRead();
      updateHuman();
      showWelcome();
      input.focus();
    }
    // A session the server no longer accepts (answered with one of `statuses`) is left behind.
    const forgetIfRefused = (error, statuses) => { if (statuses.includes(error.status)) newConversation(); };

    // The stored conversation, for `sessionId` as the server has it: messages, and the contact
    // the visitor left for the team.
    const conversation = () => call("GET", "/api/widget/session", { params: { sessionId }, token });
    const transcript = async () => (await conversation()).messages;
    const leadSent = (lead) => {
      lastStatus = "waiting";
      return el("div", { class: "msg assistant", text: t("leadSent", { email: lead.email }) });
    };

    async function restore() {
      try {
        if (!sessionId || !token) return;
        const { messages, lead, status, satisfaction } = await conversation();
        if (!messages.length) return;
        quick.replaceChildren();
        let leadShown = !lead;
        for (const message of messages) {
          if (!leadShown && message.createdAt > lead.createdAt) { log.append(leadSent(lead)); leadShown = true; }
          showStored(message);
        }
        if (!leadShown) log.append(leadSent(lead));
        if (status === "resolved") { lastStatus = status; askRating(satisfaction); }
        log.scrollTop = log.scrollHeight; // sources and thumbs came after each bubble's scroll
        if (!panel.hidden) markRead();
      } catch (error) {
        forgetIfRefused(error, [401, 403, 404]); // or offline: start fresh
      } finally {
        rendered = true;
      }
    }

    // A teammate's name as they chose it, else the team's.
    const authorName = (message) => message.author?.name || t("team", { company: config.company || config.name });

    function showStored(message) {
      seen = Math.max(seen, seqOf(message.id));
      if (message.from === "agent") {
        lastStatus = "human";
        const node = bubble("assistant agent", message.content);
        const avatar = message.author?.avatarUrl && safeUrl(message.author.avatarUrl);
        const picture = avatar ? [el("img", { src: avatar, alt: "", loading: "lazy", referrerpolicy: "no-referrer" })] : [];
        node.prepend(el("div", { class: "author" }, ...picture, authorName(message)));
        return;
      }
      if (message.role === "user") {
        bubble("user", message.content);
        return;
      }
      const node = answerBubble(message.content);
      addSources(node, message.sources || []);
      if (message.status === "complete") addFeedback(node, message.id, message.feedback);
    }

    // ---- The conversation, live: teammates' replies and who answers, pushed by the server.
    // WebSocket first (the session token is its first message); else SSE read with fetch, which
    // can send the token as a header. Open while there is a session, chat open or not. Each
    // (re)connect starts with `ready`, and the transcript is read then, so nothing said while the
    // channel was down is missed.
    let stopLive = null;
    function listen() {
      if (preview || stopLive || !sessionId || !token) return;
      const channel = scope();
      stopLive = life.own(() => channel.destroy());
      const params = { sessionId }, secret = token;
      const again = (connect, attempt) => channel.timeout(() => connect(attempt + 1),
        Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random()));
      function viaWebSocket(attempt = 0) {
        let opened = false, socket;
        try { socket = new WebSocket(api("/api/widget/session/ws", params).replace(/^http/, "ws")); } catch { return viaSse(0); }
        const close = channel.own(() => { socket.onclose = null; socket.close(); });
        socket.onopen = () => { opened = true; attempt = 0; socket.send(JSON.stringify({ token: secret })); };
        socket.onmessage = (message) => newsIn(message.data);
        socket.onclose = (event) => {
          close(); // closed already: only forgotten
          if (event.code === 1008) return; // the token is refused: this session is over
          if (!opened && attempt >= 1) return viaSse(0);
          again(viaWebSocket, attempt);
        };
      }
      async function viaSse(attempt) {
        try {
          const response = await fetch(api("/api/widget/session/stream", params),
            { headers: { "X-Session-Token": secret }, signal: channel.signal });
          if ([401, 403, 404].includes(response.status)) return;
          if (response.ok) { attempt = 0; await readData(response, newsIn); }
        } catch { /* offline, or stopped */ }
        if (!channel.signal.aborted) again(viaSse, attempt);
      }
      viaWebSocket();
    }
    function stopListening() { stopLive?.(); stopLive = null; }

    function newsIn(data) {
      let news;
      try { news = JSON.parse(data); } catch { return; }
      if (news.type === "message") teammateSaid(news.message);
      else if (news.type === "status") statusChanged(news);
      else if (news.type === "ready" || news.type === "missed") catchUp();
    }
    function teammateSaid(message) {
      if (seqOf(message.id) <= seen) return;
      pageApi.emit("message", { from: "agent", text: message.content });
      if (rendered) showStored(message);
      else seen = seqOf(message.id); // `restore` shows it
      if (panel.hidden) notify(message);
      else markRead();
    }
    // Who answers changed (a teammate took over, handed back, resolved): one line, said once. While
    // the visitor's own question streams, its answer says it.
    // Resolved while the visitor's own answer streamed: the rating is asked for after it.
    let rateAfterAnswer = false;
    function statusChanged(news) {
      if (busy && news.status === "resolved") rateAfterAnswer = true;
      if (!rendered || busy || news.status === lastStatus) return;
      lastStatus = news.status;
      log.append(el("div", { class: "msg status", role: "status", text: String(news.text || "") }));
      if (news.status === "resolved") askRating(null);
      log.scrollTop = log.scrollHeight;
    }

    // ---- Rating a resolved conversation: 1 to 5 and an optional comment, once (a second
    // replaces the first). After a reload it shows again until rated.
    function askRating(given) {
      log.querySelector(".rating")?.remove();
      const card = el("form", { class: "msg rating", "aria-label": t("rateTitle") });
      if (given) {
        card.append(el("p", { text: t("rateThanks") }),
          el("div", { class: "stars", "aria-label": t("rateScore", { count: given.score }) },
            ...[1, 2, 3, 4, 5].map((n) => el("span", { class: n <= given.score ? "on" : "", text: "★", "aria-hidden": "true" }))));
        log.append(card);
        return;
      }
      let score = 0;
      const stars = [1, 2, 3, 4, 5].map((n) => el("button", {
        type: "button", text: "★", "aria-label": t("rateScore", { count: n }), "aria-pressed": "false",
        onclick: () => {
          score = n;
          stars.forEach((star, index) => {
            star.classList.toggle("on", index < n);
            star.setAttribute("aria-pressed", String(index === n - 1));
          });
          submit.disabled = false;
        },
      }));
      const comment = el("textarea", { rows: "2", maxlength: "1000", placeholder: t("rateComment"), "aria-label": t("rateComment") });
      const submit = el("button", { type: "submit", class: "send-rating", text: t("rateSend"), disabled: true });
      const failed = el("p", { class: "error", role: "alert", hidden: "" });
      card.append(el("p", { text: t("rateTitle") }), el("div", { class: "stars" }, ...stars), comment, submit, failed);
      card.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (!score) return;
        submit.disabled = true;
        try {
          await call("POST", "/api/widget/rating", {
            body: { projectSlug: project, sessionId, sessionToken: token, score, comment: comment.value || undefined },
          });
          askRating({ score });
          log.scrollTop = log.scrollHeight;
        } catch (error) {
          failed.textContent = error.message || t("somethingWrong");
          failed.hidden = false;
          submit.disabled = false;
        }
      });
      log.append(card);
    }
    // Messages the visitor has not seen: shown when the chat has been opened, else counted unread.
    async function catchUp() {
      if (busy) return;
      try {
        const read = Number(load("read")) || 0;
        for (const message of await transcript()) {
          if (message.from !== "agent") { seen = Math.max(seen, seqOf(message.id)); continue; }
          if (rendered || seqOf(message.id) > read) teammateSaid(message);
        }
      } catch { /* the next reconnect tries again */ }
    }
    function notify(message) {
      for (const watcher of unreadWatchers) watcher();
      unread += 1;
      badge.textContent = String(unread);
      badge.hidden = false;
      launcher.setAttribute("aria-label", t("openChatUnread", { name: config.name, count: unread }));
      const text = String(message.content || "");
      teaser.replaceChildren(el("strong", { text: authorName(message) }),
        el("span", { text: text.length > 140 ? `${text.slice(0, 140)}…` : text }));
      teaser.hidden = false;
    }
    function markRead() {
      unread = 0;
      badge.hidden = true;
      teaser.hidden = true;
      if (sessionId) save("read", String(seen));
    }
    listen();
    checkHours();

    async function ask(text) {
      busy = true; send.disabled = true;
      quick.replaceChildren();
      question = bubble("user", text);
      const reply = el("div", { class: "msg assistant typing", "aria-label": t("typing") },
        el("span"), el("span"), el("span"));
      log.append(reply);
      log.scrollTop = log.scrollHeight;
      if (!sessionId) { sessionId = crypto.randomUUID(); save("sessionId", sessionId); }
      try {
        // Streamed, so not through `http`; the mount's signal stops it when the widget goes.
        const post = () => fetch(`${base}/api/chat`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          signal: life.signal,
          body: JSON.stringify({
            projectSlug: project, sessionId, sessionToken: token || undefined,
            messages: [{ role: "user", content: text }],
            user: visitor ? { ...visitor.user, userHash: visitor.userHash } : undefined,
          }),
        });
        let response = await post();
        if (response.status === 401 && visitor) {
          // The page's identity is refused (the secret changed under an open page, say): the
          // question is asked as a guest's rather than lost with the conversation.
          console.warn(`helpyap: the visitor's identity was refused: ${(await failure(response)).message}`);
          visitor = null;
          response = await post();
        }
        if (!response.ok) throw await failure(response, t("unavailable"));
        const newToken = response.headers.get("X-Session-Token");
        if (newToken) { token = newToken; save("token", token); updateHuman(); listen(); }
        await readAnswer(response, reply);
      } catch (error) {
        forgetIfRefused(error, [401, 403]);
        reply.remove();
        const failed = el("div", { class: "msg error", role: "alert", text: error.message || t("somethingWrong") });
        failed.append(el("button", {
          type: "button", text: t("retry"), onclick: () => { failed.remove(); ask(text); },
        }));
        log.append(failed);
      } finally {
        busy = false; send.disabled = false;
        if (rateAfterAnswer) { rateAfterAnswer = false; askRating(null); }
        follow();
      }
    }

    // Follows an answer as it grows, but never past its question: a long answer is read from
    // the top, with the question above it.
    let question = null;
    function follow() {
      const top = question?.isConnected ? question.offsetTop - log.offsetTop - 8 : Infinity;
      log.scrollTop = Math.min(log.scrollHeight, Math.max(0, top));
    }

    // The AI SDK UI message stream: SSE lines of JSON frames, ending with [DONE]. The text so far
    // is drawn as Markdown (`answerBubble`'s way) in a first child of `node`.
    async function readAnswer(response, node) {
      let text = "", streamError = null, messageId = null, drawing = false;
      const sources = [];
      const body = el("div", { class: "md" });
      const started = () => {
        if (!node.classList.contains("typing")) return;
        node.classList.remove("typing");
        node.removeAttribute("aria-label");
        node.replaceChildren(body);
      };
      const draw = () => {
        drawing = false;
        renderMarkdown(body, text);
        follow();
      };
      const frameIn = (frame) => {
        if (frame.type === "start") {
          messageId = frame.messageId;
          seen = Math.max(seen, seqOf(messageId));
        } else if (frame.type === "text-delta") {
          started();
          text += frame.delta;
          // The frames of one network read are handled in one go, and a microtask waits for the
          // last of them: the answer is parsed and drawn once per read, not once per delta.
          if (!drawing) { drawing = true; queueMicrotask(draw); }
        } else if (frame.type === "source-url") sources.push({ url: frame.url, title: frame.title });
        else if (frame.type === "source-document") sources.push({ title: frame.title });
        else if (frame.type === "data-handoff") {
          // Who answers: a teammate (the message waits for them), or the assistant again.
          lastStatus = frame.data?.status;
          node.before(el("div", { class: "msg status", role: "status", text: String(frame.data?.text || "") }));
        } else if (frame.type === "data-action") actionIn(frame.data?.action, node);
        else if (frame.type === "error") streamError = frame.errorText;
      };
      await readData(response, (data) => {
        if (data === "[DONE]") return;
        let frame;
        try { frame = JSON.parse(data); } catch { return; }
        frameIn(frame);
      });
      started();
      draw();
      if (!text) node.remove();
      else addSources(node, sources);
      if (text && !streamError) addFeedback(node, messageId);
      if (text) pageApi.emit("message", { from: "assistant", text });
      if (streamError) throw new Error(text ? t("cutOff") : streamError);
    }

    // What an answer's `data-action` frame asks for: "contact" — the visitor asked for a person:
    // the contact form, at once; "offer-contact" — the assistant found nothing: a button under
    // the answer that opens it. Actions this widget does not know are left to newer ones.
    function actionIn(action, answer) {
      if (action === "contact") showLeadForm();
      else if (action === "offer-contact") offerContact(answer);
    }
    function offerContact(answer) {
      if (answer.nextElementSibling?.classList.contains("offer")) return;
      answer.after(el("div", { class: "offer" },
        el("button", { type: "button", text: humanLabel(), onclick: () => showLeadForm() })));
    }

    // A visitor the assistant could not help leaves an email for a human.
    function showLeadForm() {
      if (log.querySelector(".lead")) return log.querySelector(".lead input").focus();
      const limits = config.limits;
      const email = el("input", {
        type: "email", required: "", autocomplete: "email", maxlength: maxLength(limits, "leadEmailChars"),
      });
      const name = el("input", { type: "text", autocomplete: "name", maxlength: maxLength(limits, "leadNameChars") });
      const message = el("textarea", { rows: "2", maxlength: maxLength(limits, "leadMessageChars") });
      const status = el("div", { role: "status" });
      const leadForm = el("form", { class: "lead", "aria-label": t("leadLabel") },
        el("div", { class: "intro", text: t(away === false ? "leadIntro" : "leadIntroAway") }),
        el("label", {}, t("leadEmail"), email), el("label", {}, t("leadName"), name),
        el("label", {}, t("leadMessage"), message), status,
        el("button", { type: "submit", text: t("leadSubmit") }));
      leadForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        status.textContent = t("leadSending");
        // The live "waiting" news this brings says what the confirmation says: not shown.
        const before = lastStatus;
        lastStatus = "waiting";
        try {
          await call("POST", "/api/widget/lead", {
            fallback: t("leadFailed"),
            body: {
              projectSlug: project, sessionId, sessionToken: token,
              email: email.value, name: name.value, message: message.value,
            },
          });
          leadForm.replaceWith(leadSent({ email: email.value.trim() }));
          input.focus(); // the form that had focus is gone
        } catch (error) {
          lastStatus = before;
          status.textContent = error.message;
        }
      });
      log.append(leadForm);
      log.scrollTop = log.scrollHeight;
      email.focus();
    }

    return {
      isOpen: () => !panel.hidden,
      hasUnread: () => unread > 0,
      open: (focus = false) => toggle(true, focus),
      onOpen: (opened) => openers.add(opened),
      onUnread: (watcher) => unreadWatchers.add(watcher),
      // Words said to the visitor before they asked anything (a proactive message): in place of
      // the welcome message while nothing else was said, else after the conversation.
      async greet(text) {
        await restoring;
        const welcome = log.querySelector(".welcome");
        if (welcome && log.lastElementChild === welcome) welcome.textContent = text;
        else if (!log.lastElementChild?.classList.contains("greeting")) bubble("assistant greeting", text);
      },
      close: () => { if (!panel.hidden) toggle(false); },
      focusLauncher: () => launcher.focus(),
    };
  }

  // ---- Social-proof popups ------------------------------------------------------------------

  // One small picture per event type, for popups whose event has no `imageUrl`.
  const TYPE_PATHS = {
    purchased: "M6 7V6a6 6 0 0 1 12 0v1h3v15H3V7h3zm2 0h8V6a4 4 0 0 0-8 0v1z",
    subscribed: "M2 5h20v14H2V5zm2 2v.4l8 5 8-5V7H4zm16 2.8-8 5-8-5V17h16V9.8z",
    signed_up: "M12 12a5 5 0 1 0 0-10 5 5 0 0 0 0 10zm0 2c-5 0-9 2.5-9 6v2h18v-2c0-3.5-4-6-9-6z",
    added_to_cart: "M7 18a2 2 0 1 0 0 4 2 2 0 0 0 0-4zm10 0a2 2 0 1 0 0 4 2 2 0 0 0 0-4zM1 2h3.3l.9 2H22"
      + "l-3.6 8.5A2 2 0 0 1 16.6 14H8.1l-1 2H19v2H4l2.6-4.7L3 4H1V2z",
    custom: "M12 2l3.1 6.3 6.9 1-5 4.9 1.2 6.8L12 17.8 5.8 21l1.2-6.8-5-4.9 6.9-1z",
  };
  const VIEWERS_PATH = "M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm8 0a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM9 13c-4 0-8 2-8 5v3h16v-3"
    + "c0-3-4-5-8-5zm8 0c-.5 0-1 0-1.5.1 1.5 1.1 2.5 2.6 2.5 4.9v3h5v-3c0-3-3-5-6-5z";
  const typeIcon = (type) => el("span", { class: "type" },
    icon(type === "viewers" ? VIEWERS_PATH : TYPE_PATHS[type] || TYPE_PATHS.custom));

  // Where popups go: the configured corner, or (auto) the bubble's; a bottom corner on the
  // bubble's side sits beside it, never over it.
  function popupPlace(rules, side) {
    const corner = rules.position && rules.position !== "auto" ? rules.position : `bottom-${side}`;
    const beside = corner === `bottom-${side}` ? " beside" : "";
    return `popup ${corner}${beside} phone-${rules.mobilePosition === "top" ? "top" : "bottom"}`;
  }

  // This visit's id for the figures the widget reports: random, kept for the tab's session (no
  // cookie, nothing personal).
  function visitId() {
    let visit = sessionGet(key("visit"));
    if (!/^[A-Za-z0-9_-]{8,64}$/.test(visit || "")) {
      visit = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
      sessionSet(key("visit"), visit);
    }
    return visit;
  }

  // Posts a report with `sendBeacon`, which outlives the page (fetch with keepalive without it).
  function sendReport(path, report) {
    const url = api(path, {}), body = JSON.stringify(report);
    if (!navigator.sendBeacon?.(url, body)) fetch(url, { method: "POST", body, keepalive: true }).catch(() => {});
  }

  // Tells the server which popups this visit saw and clicked, each once: the visit's id and event
  // ids, sent in batches — at once for a click, as the page may be leaving.
  function createBeacon(popups) {
    const visit = visitId(), reportedKey = key("popupsReported");
    let reported;
    try { reported = new Set(JSON.parse(sessionGet(reportedKey) || "[]")); } catch { reported = new Set(); }
    const pending = { shown: [], clicked: [] };
    let timer = null;
    function flush() {
      timer?.();
      timer = null;
      while (pending.shown.length || pending.clicked.length) {
        sendReport("/api/widget/salespop/seen",
          { visit, shown: pending.shown.splice(0, 20), clicked: pending.clicked.splice(0, 20) });
      }
    }
    popups.listen(document, "visibilitychange", () => { if (document.hidden) flush(); });
    popups.listen(window, "pagehide", flush);
    return {
      flush,
      report(action, id) {
        const mark = `${action}:${id}`;
        if (reported.has(mark)) return;
        reported.add(mark);
        sessionSet(reportedKey, JSON.stringify([...reported].slice(-200)));
        pending[action].push(String(id));
        if (action === "clicked") flush();
        else timer ??= popups.timeout(flush, 5000);
      },
    };
  }

  function createPopups(root, rules, side, chat, nudge, life, t, locale) {
    if (!rules || !rules.enabled) return;
    if (!rules.showOnMobile && matchMedia("(max-width: 640px)").matches) return;
    const closedKey = key("popupsClosed");
    const place = popupPlace(rules, side);
    if (preview) {
      // A sample as the settings show it; the real name format is applied by the server.
      const names = { full: "Sarah Kim", first: "Sarah", first_initial: "Sarah K.", anonymous: null };
      const sample = {
        type: "purchased", name: hasOwn(names, rules.nameFormat) ? names[rules.nameFormat] : "Sarah K.",
        location: "Austin, TX", product: "Pro Plan", message: "Sarah K. bought the Pro Plan",
      };
      const popup = el("div", { class: `${place} sample`, role: "status" },
        el("span", { class: "card" }, typeIcon(sample.type), el("span", {},
          el("span", { class: "text", text: popupText(sample) }), el("span", { class: "when", text: t("justNow") }))),
        el("button", { class: "close", type: "button", "aria-label": t("closePopups"), text: "×",
          onclick: () => popup.remove() }));
      return root.append(popup);
    }
    if (sessionGet(closedKey) || !pageShows(rules.pages, location.pathname)) return;
    const shownKey = key("popupsShown");
    let shown = Number(sessionGet(shownKey) || 0);
    let since = Number(load("since") || 0);
    const queue = []; // events, the newest 20
    const first = []; // summaries and the viewer count: before events, never dropped for them
    let nextAt = Date.now() + rules.initialDelayMs;
    let timer = null; // cancels the scheduled `showNext`
    let waiting = null; // stops waiting for the tab to be visible
    let current = null; // the popup on screen
    // Popups' own timers and connections, ended by the close button or with the widget.
    const popups = scope();
    life.own(() => popups.destroy());
    const beacon = createBeacon(popups);

    function receive(event) {
      if (event.type === "reset") { since = Number(event.lastId) || 0; save("since", String(since)); return; }
      if (event.type === "config") return pageApi.settingsChanged(event.etag);
      const id = Number(event.id);
      if (!(id > since)) return; // seen already: never twice
      since = id;
      save("since", String(since));
      if (Date.now() - Date.parse(event.createdAt) > rules.maxAgeMs) return;
      if (rules.types && rules.types[event.type] === false) return;
      queue.push(event);
      if (queue.length > 20) queue.shift();
      schedule();
    }
    const receiveData = (data) => { try { receive(JSON.parse(data)); } catch { /* not ours */ } };

    function schedule() {
      if (timer || !(first.length || queue.length) || shown >= rules.maxPerVisit) return;
      timer = popups.timeout(() => { timer = null; showNext(); }, Math.max(0, nextAt - Date.now()));
    }

    function showNext() {
      if (document.hidden) {
        waiting ??= popups.listen(document, "visibilitychange", () => { waiting(); waiting = null; schedule(); });
        return;
      }
      if (chat.isOpen() || nudge?.showing() || !(first.length || queue.length) || shown >= rules.maxPerVisit) {
        nextAt = Date.now() + rules.gapMs;
        return schedule();
      }
      const event = first.shift() || queue.shift();
      event.shown?.(); // a summary or viewer count: once a visit, counted when seen
      shown += 1;
      sessionSet(shownKey, String(shown));
      const popup = card(event);
      current = popup;
      root.append(popup);
      if (event.id) beacon.report("shown", event.id);
      pageApi.emit("popup", event.id ? { ...event } : { type: event.type, text: event.text });
      popups.timeout(() => {
        popup.classList.add("hiding");
        popups.timeout(() => { popup.remove(); if (current === popup) current = null; }, 350);
      }, rules.displayMs);
      nextAt = Date.now() + rules.displayMs + rules.gapMs;
      schedule();
    }

    // The popup of `event`: its picture (or its type's), text and age, a link when it has one,
    // and the close button that ends popups for this visit.
    function card(event) {
      const picture = () => typeIcon(event.type);
      let visual = picture();
      if (safeUrl(event.imageUrl)) {
        visual = el("img", { class: "thumb", src: event.imageUrl, alt: "", loading: "lazy",
          referrerpolicy: "no-referrer", width: "44", height: "44" });
        visual.addEventListener("error", () => visual.replaceWith(picture()), { once: true });
      }
      // A summary or a viewer count has its text and no age.
      const words = event.text
        ? el("span", {}, el("span", { class: "text", text: event.text }))
        : el("span", {}, el("span", { class: "text", text: popupText(event) }),
          el("span", { class: "when", text: ago(event.createdAt) }));
      const href = event.url ? withUtm(event.url, rules.utm) : null;
      const away = href && new URL(href).origin !== location.origin;
      const content = href
        ? el("a", { class: "card", href, onclick: () => {
          beacon.report("clicked", event.id);
          pageApi.emit("popupClick", { ...event, url: href });
        },
          ...(away ? { target: "_blank", rel: "noopener noreferrer" } : {}) }, visual, words)
        : el("span", { class: "card" }, visual, words);
      const close = el("button", { class: "close", type: "button", "aria-label": t("closePopups"), text: "×",
        onclick: () => {
          sessionSet(closedKey, "1");
          current?.remove();
          beacon.flush();
          popups.destroy();
        } });
      return el("div", { class: place, role: "status" }, content, close);
    }

    function popupText(event) {
      let template = rules.templates[event.type] || "{message}";
      const fields = {
        name: event.name || t("someone"),
        location: event.location, product: event.product, message: event.message,
      };
      if (!fields.location) template = template.replace(/ from \{location\}/g, "");
      if (!fields.product) template = template.replace(/ (to |for )?\{product\}/g, "");
      return template.replace(/\{(name|location|product|message)\}/g, (_, name) => fields[name] || "")
        .replace(/\s+/g, " ").trim();
    }

    // How long ago, in whole units counted down: 35 s is "35 seconds ago", 119 s "1 minute ago".
    function ago(createdAt) {
      const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(createdAt)) / 1000));
      const counted = (count, one, many) => t(count === 1 ? one : many, { count });
      if (!(seconds >= 10)) return t("justNow");
      if (seconds < 60) return t("secondsAgo", { count: seconds });
      const minutes = Math.floor(seconds / 60);
      if (minutes < 60) return counted(minutes, "minuteAgo", "minutesAgo");
      const hours = Math.floor(minutes / 60);
      return hours < 24 ? counted(hours, "hourAgo", "hoursAgo") : counted(Math.floor(hours / 24), "dayAgo", "daysAgo");
    }

    // WebSocket first; SSE when sockets are blocked; polling when both are.
    // The page is told only when the project counts its viewers.
    // And the config's ETag, so settings saved while it was away are told at once.
    const sinceParam = () => {
      const params = { since: String(since) };
      if (rules.liveViewers?.enabled) params.page = location.pathname.slice(0, 200);
      const etag = pageApi.configEtag();
      if (etag) params.config = etag;
      return params;
    };
    function viaWebSocket(attempt = 0) {
      let opened = false;
      const url = api("/api/widget/salespop/ws", sinceParam()).replace(/^http/, "ws");
      let socket;
      try { socket = new WebSocket(url); } catch { return viaSse(); }
      const close = popups.own(() => { socket.onclose = null; socket.close(); });
      socket.onopen = () => { opened = true; attempt = 0; counted(); };
      socket.onmessage = (message) => receiveData(message.data);
      socket.onclose = () => {
        close(); // closed already: only forgotten
        if (!opened && attempt >= 1) return viaSse();
        popups.timeout(() => viaWebSocket(attempt + 1), Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random()));
      };
    }
    function viaSse() {
      if (!window.EventSource) return viaPolling();
      let opened = false;
      const source = new EventSource(api("/api/widget/salespop/stream", sinceParam()));
      const close = popups.own(() => source.close());
      source.onopen = () => { opened = true; counted(); };
      source.onmessage = (message) => receiveData(message.data);
      source.addEventListener("reset", (message) => receiveData(message.data));
      source.addEventListener("config", (message) => receiveData(message.data));
      source.onerror = () => {
        // The browser reconnects by itself with Last-Event-ID; give up on SSE only if it never worked.
        if (!opened) { close(); viaPolling(); }
      };
    }
    function viaPolling() {
      const poll = async () => {
        try {
          const body = await http("GET", "/api/widget/salespop", { params: sinceParam(), signal: popups.signal });
          if (body.reset) receive({ type: "reset", lastId: body.lastId });
          body.events.forEach(receive);
        } catch { /* try again later */ }
        popups.timeout(poll, POLL_MS);
      };
      poll();
    }
    viaWebSocket();
    summaries();

    // Once this visitor's live connection counts it on the page (and not before the first
    // popup is due), ask how many are on it.
    const startedAt = Date.now();
    let asked = false;
    function counted() {
      if (asked) return;
      asked = true;
      popups.timeout(viewers, Math.max(0, startedAt + rules.initialDelayMs - Date.now()));
    }

    // "27 people signed up in the last 24 hours": one per type with enough events, once a
    // visit, before the events themselves.
    async function summaries() {
      const { enabled, windowHours, minCount, templates } = rules.summaries || {};
      if (!enabled) return;
      let stats;
      try {
        stats = await http("GET", "/api/widget/salespop/stats", { params: { window: `${windowHours}h` }, signal: popups.signal });
      } catch { return; }
      const shownKey = key("summariesShown");
      const done = () => new Set((sessionGet(shownKey) || "").split(",").filter(Boolean));
      const found = Object.entries(templates || {})
        .filter(([type, template]) => template && rules.types?.[type] !== false && !done().has(type)
          && stats.counts[type] >= minCount)
        .map(([type, template]) => ({
          type, text: fill(template, stats.counts[type], windowHours),
          shown: () => sessionSet(shownKey, [...done(), type].join(",")),
        }));
      if (!found.length) return;
      first.push(...found);
      schedule();
    }

    // "12 people are viewing this page right now", once a visit per page, when enough are.
    async function viewers() {
      const { enabled, minCount, template } = rules.liveViewers || {};
      const page = location.pathname.slice(0, 200);
      const shownKey = key(`viewersShown:${page}`);
      if (!enabled || sessionGet(shownKey)) return;
      let answer;
      try {
        answer = await http("GET", "/api/widget/salespop/viewers", { params: { page }, signal: popups.signal });
      } catch { return; }
      if (!(answer.viewers >= minCount)) return;
      first.unshift({ type: "viewers", text: fill(template, answer.viewers), shown: () => sessionSet(shownKey, "1") });
      schedule();
    }

    // A summary's words: `{count}` as a number of the visitor's language, `{window}` as "24
    // hours" (or "7 days", from two days on) in it.
    function fill(template, count, hours) {
      const days = hours >= 48 && hours % 24 === 0;
      let window = "";
      try {
        window = new Intl.NumberFormat(locale, { style: "unit", unit: days ? "day" : "hour", unitDisplay: "long" })
          .format(days ? hours / 24 : hours);
      } catch { window = `${hours} h`; }
      return template.replace(/\{count\}/g, new Intl.NumberFormat(locale).format(count)).replace(/\{window\}/g, window);
    }
  }

  // ---- Proactive messages -------------------------------------------------------------------

  // The owner's short messages above the closed bubble. On this page, the first rule whose
  // page pattern matches and that this visitor has not had (once per visit, or per day) shows
  // after its seconds on the page — counted while the tab is visible — unless the chat is open
  // or a teammate's reply waits (one that comes takes its place); on a phone it waits for a
  // popup at the bottom to go. Opening the chat (by the message, the bubble or the page's
  // `HelpYap.open()`) shows it there as the assistant's first words; ✕ dismisses it. Shown,
  // opened and dismissed are reported once per visit each. A remount (new settings, a locale)
  // goes on where this page load was: the wait resumes, a message on screen stays.
  // Returns whether it is on screen (popups wait for it), or null when there is none to show.
  const nudgeLoad = { rule: null, left: null, showing: false }; // this page load's
  function createNudge(root, config, side, chat, life, t) {
    if (preview || !Array.isArray(config.proactive)) return null;
    const today = new Date().toLocaleDateString("en-CA"); // YYYY-MM-DD, the visitor's day
    const mark = (rule) => `proactive:${rule.id}`;
    const had = (rule) => (rule.frequency === "day" ? load(mark(rule)) === today : sessionGet(key(mark(rule))));
    const here = (rule) => pageShows({ include: [rule.page] }, location.pathname);
    const showing = nudgeLoad.showing && config.proactive.find((rule) => rule.id === nudgeLoad.rule);
    const rule = showing || config.proactive.find((rule) => here(rule) && !had(rule));
    nudgeLoad.showing = false;
    if (!rule) return null;
    const report = (action) => {
      const reported = key(`${mark(rule)}:${action}`);
      if (sessionGet(reported)) return;
      sessionSet(reported, "1");
      sendReport("/api/widget/proactive", { visit: visitId(), rule: rule.id, action });
    };
    let node = null;
    const hide = () => { node?.remove(); node = null; nudgeLoad.showing = false; };
    chat.onOpen(() => {
      if (!node) return;
      hide();
      report("opened");
      chat.greet(rule.message);
    });
    chat.onUnread(hide);

    let left = nudgeLoad.rule === rule.id && nudgeLoad.left !== null ? nudgeLoad.left
      : Math.min(Number(rule.afterSeconds) || 0, 3600) * 1000;
    nudgeLoad.rule = rule.id;
    let startedAt = 0, timer = null;
    const pause = () => {
      if (!timer) return;
      timer();
      timer = null;
      left = Math.max(0, left - (Date.now() - startedAt));
    };
    const run = () => {
      if (document.hidden || timer || left < 0) return;
      startedAt = Date.now();
      timer = life.timeout(() => { timer = null; show(); }, left);
    };
    life.listen(document, "visibilitychange", () => (document.hidden ? pause() : run()));
    life.own(() => { pause(); nudgeLoad.left = left; nudgeLoad.showing = node !== null; });
    if (showing) draw();
    else run();

    function show() {
      // Not on this page, then: the chat is in use, or the site's own router moved on.
      if (chat.isOpen() || chat.hasUnread() || !here(rule)) { left = -1; return; }
      if (matchMedia("(max-width: 480px)").matches && root.querySelector(".popup.phone-bottom")) {
        left = 1000;
        return run();
      }
      left = -1;
      if (rule.frequency === "day") save(mark(rule), today);
      else sessionSet(key(mark(rule)), "1");
      draw();
      report("shown");
    }
    function draw() {
      left = -1;
      const close = el("button", { class: "close", type: "button", "aria-label": t("dismissMessage"), text: "×",
        onclick: () => { hide(); report("dismissed"); chat.focusLauncher(); } });
      node = el("div", { class: `nudge ${side}`, role: "status" },
        el("button", { class: "say", type: "button", onclick: () => chat.open(true) },
          el("strong", { text: config.name }), el("span", { text: rule.message })),
        close);
      root.append(node);
      nudgeLoad.showing = true;
    }
    return { showing: () => node !== null };
  }

  // ---- The page's API: window.HelpYap ---------------------------------------------------------
  // A site talks to the widget from its own code: `HelpYap.open()`, `.close()`, `.toggle()`,
  // `.setLocale("de")`, `.on(event, fn)` / `.off(event, fn)` for `ready`, `open`, `close`,
  // `message` ({from, text}), `popup` and `popupClick` (the event), `.identify({userId, email,
  // name}, userHash)` (the signed-in visitor: their conversation follows them to this browser
  // when the project verifies identities; resolves to the server's answer, or null when it
  // refused), and `.shutdown()` (sign-out: this device forgets the visitor, their conversation,
  // popup and proactive-message state, and the widget starts afresh). Calls made before the widget loaded — queued by the install snippet's stub in
  // `HelpYap.q` as [method, arguments] — run once it is up, in order, before `ready`.
  // Settings the owner saves reach open pages: the popup channel says the config changed (or,
  // without one, the config is asked for again when the tab comes back and every 5 minutes),
  // and the widget mounts again with it — at once when the chat is closed, else when it closes,
  // so a visitor mid-conversation is not interrupted.
  const pageApi = (() => {
    const handlers = new Map();
    let config = null, mounted = null, etag = null, locale = null, waiting = null, checkedAt = 0;
    const emit = (name, detail) => {
      if (name === "close" && waiting) setTimeout(apply);
      for (const handler of handlers.get(name) || []) {
        try { handler(detail); } catch (error) { console.error("helpyap: a page handler failed:", error); }
      }
    };
    // `wanted`: the ETag a live channel announced. In a cluster the node asked may not have the
    // change yet (304): asked again, a few times, a little later.
    let refreshing = null;
    async function refresh(wanted, attempt = 0) {
      checkedAt = Date.now();
      let loaded;
      try { loaded = await loadConfig(etag); } catch { return; /* offline: next time */ }
      if (!loaded) {
        if (wanted && wanted !== etag && attempt < 5) setTimeout(() => refresh(wanted, attempt + 1), 1000 * 2 ** attempt);
        return;
      }
      etag = loaded.etag;
      waiting = locale ? { ...loaded.config, locale } : loaded.config;
      if (!chat()?.isOpen()) apply();
    }
    function apply() {
      if (!waiting || chat()?.isOpen()) return;
      config = waiting;
      waiting = null;
      remount();
    }
    function watchSettings() {
      const stale = () => document.visibilityState === "visible" && Date.now() - checkedAt > 60000;
      document.addEventListener("visibilitychange", () => { if (stale()) refresh(); });
      setInterval(() => { if (stale()) refresh(); }, 300000);
    }
    const chat = () => mounted?.chat;
    const methods = {
      open: () => chat()?.open(),
      close: () => chat()?.close(),
      toggle: () => (chat()?.isOpen() ? chat().close() : chat()?.open()),
      setLocale(code) {
        if (!config || typeof code !== "string") return;
        locale = code;
        config = { ...config, locale: code };
        remount();
      },
      on(name, handler) {
        if (typeof handler !== "function") return;
        if (!handlers.has(name)) handlers.set(name, new Set());
        handlers.get(name).add(handler);
      },
      off(name, handler) { handlers.get(name)?.delete(handler); },
      identify,
      shutdown() {
        turn += 1;
        visitor = null;
        visitMemory.clear();
        // Everything this device kept of the visitor for this project: the conversation, read
        // marks, the popups seen, proactive messages' "once a day" marks, this visit's state.
        for (const storage of ["localStorage", "sessionStorage"]) {
          try {
            for (const name of Object.keys(window[storage])) if (name.startsWith(key(""))) window[storage].removeItem(name);
          } catch { /* blocked */ }
        }
        if (config) remount();
      },
    };
    // Tells the server who the visitor is, with the conversation this browser has; shows the one
    // the server says is theirs. A refused identity (a wrong userHash) leaves them anonymous.
    // Each `identify` and `shutdown` starts a new turn: an answer to an older one is dropped.
    let turn = 0;
    async function identify(user, userHash) {
      const id = user?.userId;
      if (typeof id !== "string" && typeof id !== "number") {
        console.warn("helpyap: identify needs {userId, email?, name?}");
        return null;
      }
      const mine = ++turn;
      const named = { userId: String(id), email: user.email || undefined, name: user.name || undefined };
      const sessionId = load("sessionId") || undefined;
      try {
        const answer = await http("POST", "/api/widget/identify", {
          body: { projectSlug: project, ...named, userHash: userHash || undefined, sessionId },
          token: sessionId && load("token"),
        });
        if (mine !== turn) return null;
        visitor = { user: named, userHash: userHash || undefined };
        const switchTo = (id, secret) => {
          save("sessionId", id); save("token", secret); save("read", null);
          if (config) remount();
        };
        if (answer.conversation === "other") switchTo(answer.sessionId, answer.sessionToken);
        else if (answer.conversation === "new" && sessionId) switchTo(null, null);
        return answer;
      } catch (error) {
        if (mine !== turn) return null;
        visitor = null;
        console.warn(`helpyap: identify refused: ${error.message}`);
        return null;
      }
    }
    function remount() {
      const open = chat()?.isOpen();
      // Keyboard focus on the widget (the bubble, after closing the chat) stays on it.
      const focused = document.activeElement?.id === "helpyap-widget";
      mounted?.destroy();
      mounted = mount(config);
      if (open) mounted.chat?.open();
      else if (focused) mounted.chat?.focusLauncher();
    }
    // The same object the stub made, so references the page holds keep working.
    const api = window.HelpYap && typeof window.HelpYap === "object" ? window.HelpYap : {};
    const queued = Array.isArray(api.q) ? api.q : [];
    return {
      emit,
      // Open widgets do not all ask at the same instant.
      settingsChanged(newEtag) {
        if (!config || newEtag === etag || refreshing === newEtag) return;
        refreshing = newEtag;
        setTimeout(() => { refreshing = null; refresh(newEtag); }, Math.random() * 3000);
      },
      configEtag: () => etag,
      start(first, firstEtag) {
        config = first;
        etag = firstEtag;
        checkedAt = Date.now();
        watchSettings();
        mounted = mount(config);
        Object.assign(api, methods);
        delete api.q;
        window.HelpYap = api;
        // In order; a queued `identify` is answered before the next call runs and `ready` fires,
        // so the page's first question already goes as the visitor's.
        (async () => {
          for (const [method, args] of queued) {
            if (Object.hasOwn(methods, method)) await methods[method](...(Array.isArray(args) ? args : []));
          }
          emit("ready");
        })();
      },
    };
  })();

  const begin = preview ? startPreview : start;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", begin);
  else begin();
})();
