// Enter sends, Shift+Enter keeps a new line, Escape stops a reply; the message list follows the newest text.
export function init(textarea, form) {
    textarea.addEventListener("keydown", e => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            form.requestSubmit();
        } else if (e.key === "Escape") {
            form.querySelector("button.stop")?.click();
        }
    });
}

export function scrollToEnd(element) {
    if (element) {
        element.scrollTop = element.scrollHeight;
    }
}
