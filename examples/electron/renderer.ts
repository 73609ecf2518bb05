// A minimal terminal: shows console bytes, sends keystrokes. (A real app would use xterm.js.)
interface GuestConsole {
  write(text: string): void;
  onData(listener: (text: string) => void): void;
}
declare const guestConsole: GuestConsole;

const screen = document.getElementById('screen')!;
guestConsole.onData((text) => {
  screen.textContent += text.replace(/\r\n?/g, '\n').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  screen.scrollTop = screen.scrollHeight;
});
screen.addEventListener('keydown', (e) => {
  const key = e.key === 'Enter' ? '\r' : e.key === 'Backspace' ? '\x7f' : e.key.length === 1 ? e.key : '';
  if (e.ctrlKey && e.key.length === 1) guestConsole.write(String.fromCharCode(e.key.toUpperCase().charCodeAt(0) - 64));
  else if (key) guestConsole.write(key);
  e.preventDefault();
});
screen.focus();
