// Enter sends, Shift+Enter keeps a new line, Escape stops a reply; the message list follows the newest text.
export function init(textarea, form, messages) {
    textarea.addEventListener("keydown", e => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            form.requestSubmit();
        } else if (e.key === "Escape") {
            form.querySelector("button.stop")?.click();
        }
    });

    // Only the streaming message re-renders, so the list cannot be scrolled from the page's own
    // renders: follow any growth while the reader is at (or near) the end.
    let following = true;
    messages.addEventListener("scroll", () => {
        following = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
    });
    new MutationObserver(() => {
        if (following) {
            messages.scrollTop = messages.scrollHeight;
        }
    }).observe(messages, { childList: true, subtree: true, characterData: true });
    messages.scrollTop = messages.scrollHeight;
}

// The conversation kept across reloads. Storage can be full or disabled: say so, never throw.
export function load(key) {
    try {
        return localStorage.getItem(key);
    } catch {
        return null;
    }
}

export function save(key, json) {
    try {
        localStorage.setItem(key, json);
        return true;
    } catch {
        return false;
    }
}

export function append(key, text) {
    try {
        localStorage.setItem(key, (localStorage.getItem(key) ?? "") + text);
        return true;
    } catch {
        return false;
    }
}

export function clear(key) {
    try {
        localStorage.removeItem(key);
        return true;
    } catch {
        return false;
    }
}
