import type { PhraseRule } from './phrase-matcher.js';

/** What an injection attempt tries to do. Values are stable: they appear in results and metrics. */
export type InjectionCategory =
  | 'instruction_override'
  | 'role_hijack'
  | 'fake_delimiter'
  | 'prompt_exfiltration'
  | 'jailbreak'
  | 'indirect_instruction';

/** Every {@link InjectionCategory}, in a stable order. */
export const INJECTION_CATEGORIES: readonly InjectionCategory[] = [
  'instruction_override',
  'role_hijack',
  'fake_delimiter',
  'prompt_exfiltration',
  'jailbreak',
  'indirect_instruction',
];

// Word lists are in the detection view's spelling: lower case, diacritics removed (ü → u, é → e).
// Languages: English, German, Spanish, French, Italian.

const OVERRIDE_VERB = [
  'ignore', 'ignoring', 'disregard', 'disregarding', 'forget', 'forgetting', 'skip', 'bypass', 'override',
  'overrule', 'discard', 'drop', 'abandon', 'neglect', 'ditch', 'dismiss', 'erase', 'reset', 'wipe', 'scrap', 'scratch',
  'ignoriere', 'ignorier', 'ignorieren', 'vergiss', 'vergessen', 'missachte', 'missachten', 'verwirf', 'verwerfe',
  'uberspringe', 'umgehe', 'ignora', 'ignorar', 'ignoren', 'olvida', 'olvidate', 'olvidar', 'olvide', 'olviden',
  'omite', 'omitir', 'descarta', 'descartar', 'desobedece', 'ignorez', 'ignorer', 'oublie', 'oubliez', 'oublier',
  'neglige', 'negligez', 'abandonne', 'abandonnez', 'ignorate', 'ignorare', 'ignori', 'dimentica', 'dimenticate',
  'dimenticare', 'dimentichi', 'trascura', 'tralascia', 'scarta', 'scartare',
];
const PRIOR = [
  'previous', 'prior', 'above', 'earlier', 'preceding', 'former', 'initial', 'original', 'old', 'all', 'any',
  'every', 'your', 'existing', 'current', 'given', 'system', 'those', 'these', 'default', 'foregoing', 'safety',
  'vorherigen', 'vorherige', 'bisherigen', 'bisherige', 'obigen', 'obige', 'vorigen', 'alle', 'deine', 'deinen',
  'ihre', 'ursprunglichen', 'fruheren', 'vorangegangenen', 'anteriores', 'anterior', 'previas', 'previos', 'todas',
  'todos', 'tus', 'sus', 'originales', 'iniciales', 'arriba', 'precedentes', 'anterieures', 'toutes', 'tous', 'tes',
  'vos', 'initiales', 'dessus', 'precedenti', 'tutte', 'tutti', 'tue', 'tuoi', 'iniziali', 'originali', 'sopra',
  'prima', 'vorher', 'davor', 'antes', 'avant',
];
const RULES_OBJ = [
  'instruc*', 'rule', 'rules', 'direction', 'directions', 'guideline*', 'guidance', 'prompt', 'prompts', 'command', 'commands',
  'order', 'orders', 'constraint*', 'restriction*', 'programming', 'directive*', 'policy', 'policies', 'filter*',
  'anweisung*', 'instrukt*', 'regel', 'regeln', 'befehl*', 'vorgabe*', 'systemvorgabe*', 'richtlinie*',
  'einschrankung*', 'instruccion*', 'regla', 'reglas', 'indicacion*', 'ordenes', 'directriz', 'directrices',
  'normas', 'restriccion*', 'consigne*', 'regle', 'regles', 'ordres', 'istruzion*', 'regola', 'regole',
  'indicazion*', 'direttiv*', 'ordini', 'restrizion*',
];
const CONTEXT_OBJ = ['context', 'contexto', 'contexte', 'contesto', 'kontext'];
const EVERYTHING = ['everything', 'all', 'alles', 'todo', 'tout', 'tutto'];
const BEFORE = [
  'above', 'before', 'previous', 'prior', 'earlier', 'told', 'said', 'vorher', 'davor', 'bisher', 'gesagt',
  'antes', 'anterior', 'dicho', 'avant', 'dit', 'precedemment', 'prima', 'sopra', 'detto', 'oben', 'arriba',
];
const NEGATE = ['stop', 'quit', 'cease', 'don', 'dont', 'not', 'no', 'longer', 'never', 'non', 'nicht', 'plus', 'mas', 'piu', 'mehr', 'ne', 'n'];
const FOLLOW = [
  'follow', 'following', 'obey', 'obeying', 'adhere', 'adhering', 'respect', 'comply', 'befolge', 'befolgen',
  'folge', 'gehorche', 'sigas', 'seguir', 'sigues', 'obedezcas', 'obedecer', 'respetes', 'suis', 'suivez',
  'suivre', 'obeis', 'obeissez', 'respecte', 'seguire', 'segui', 'seguite', 'obbedire', 'obbedisci', 'rispettare',
];
const NEW = ['new', 'real', 'actual', 'updated', 'revised', 'true', 'neue', 'neuen', 'neuer', 'wahre', 'echte',
  'nueva', 'nuevas', 'nuevo', 'nuevos', 'verdaderas', 'nouvelle', 'nouvelles', 'nouveau', 'nouveaux', 'vraies',
  'nuova', 'nuove', 'nuovo', 'nuovi', 'vere'];
const TASK_COLON = [
  'instructions:', 'instruction:', 'task:', 'rules:', 'directive:', 'directives:', 'orders:', 'objective:',
  'anweisung:', 'anweisungen:', 'aufgabe:', 'regeln:', 'instrucciones:', 'instruccion:', 'tarea:', 'reglas:',
  'directiva:', 'consignes:', 'consigne:', 'tache:', 'regles:', 'istruzioni:', 'istruzione:', 'compito:',
  'regole:', 'direttiva:',
];
const PERSONA_NOUN = ['task', 'role', 'persona', 'instructions', 'rules', 'objective', 'goal', 'purpose', 'identity', 'directive'];

const ROLE_CUE = [
  'act', 'acting', 'pretend', 'pretending', 'roleplay', 'role', 'persona', 'behave', 'simulate', 'imagine',
  'become', 'character', 'playing', 'portray', 'impersonate', 'embody', 'identity', 'personas', 'assume', 'bist', 'warst', 'waerst', 'verhalte', 'spiele',
  'spielst', 'rolle', 'sei', 'seist', 'eres', 'seras', 'finge', 'fingir', 'actua', 'actuar', 'comportate',
  'papel', 'es', 'etre', 'agis', 'agissez', 'semblant', 'joue', 'incarne', 'serais', 'seras', 'sarai', 'fingi',
  'fingiti', 'comportati', 'ruolo', 'interpreta', 'essere',
];
const UNRESTRICTED = [
  'unrestricted', 'unfiltered', 'uncensored', 'unbound', 'unchained', 'unleashed', 'jailbroken', 'evil',
  'malicious', 'amoral', 'immoral', 'unethical', 'rogue', 'lawless', 'uneingeschrankt*', 'ungefiltert*',
  'unzensiert*', 'bose', 'boser', 'bosen', 'bosartig*', 'malvad*', 'malefique*', 'malveillant*', 'malvagi*',
  'malvagio',
];
const NO_WORD = [
  'no', 'without', 'zero', 'never', 'ohne', 'keine', 'kein', 'keinerlei', 'jegliche', 'sin', 'ninguna', 'ningun',
  'sans', 'aucune', 'aucun', 'senza', 'nessuna', 'nessun', 'alcuna', 'alcun', 'any',
];
const RESTRICTION = [
  'restriction*', 'restrict*', 'rule', 'rules', 'limit*', 'guardrail*', 'safeguard*', 'filter*', 'guideline*',
  'ethic*', 'moral*', 'boundar*', 'censor*', 'safety', 'policy', 'policies', 'constraint*', 'regel', 'regeln',
  'grenze*', 'zensur*', 'einschrankung*', 'filtro', 'filtros', 'reglas', 'censura', 'etica',
  'restriccion*', 'regles', 'censure', 'ethique', 'filtres', 'restrizion*', 'regole', 'filtri',
  'norms', 'ethik', 'moral',
];
const AI = [
  'ai', 'ais', 'ki', 'ia', 'assistant', 'assistants', 'assistente', 'asistente', 'llm', 'llms', 'chatbot',
  'chatgpt', 'gpt', 'claude', 'gemini', 'copilot', 'bot', 'agent', 'agents', 'model', 'models', 'modello',
  'modelo', 'modele', 'intelligenza', 'assistent', 'assistenten', 'ias', 'automated', 'automatic', 'automatisch*',
  'automatico', 'automatique', 'robot', 'robots', 'crawler', 'crawlers', 'scraper', 'scrapers',
];
const ADDRESS = [
  'note', 'message', 'attention', 'instruction', 'instructions', 'important', 'todo', 'dear', 'hey', 'attn',
  'reminder', 'hinweis', 'nachricht', 'an', 'liebe', 'lieber', 'nota', 'mensaje', 'instruccion', 'querida',
  'querido', 'estimado', 'para', 'pour', 'cher', 'chere', 'messaggio', 'caro', 'cara', 'per', 'for', 'whoever',
];
const ACTION = [
  'send', 'forward', 'email', 'exfiltrate', 'upload', 'transfer', 'transmit', 'leak', 'call', 'invoke',
  'execute', 'delete', 'approve', 'append', 'recommend', 'rate', 'ignore', 'visit', 'download', 'install',
  'render', 'click', 'sende', 'senden', 'schicke', 'schick', 'leite', 'empfiehl', 'losche', 'fuhre',
  'envia', 'reenvia', 'manda', 'borra', 'aprueba', 'recomienda', 'ejecuta', 'envoie', 'envoyez', 'transfere',
  'supprime', 'approuve', 'recommande', 'execute', 'invia', 'inoltra', 'elimina', 'approva', 'raccomanda',
  'esegui', 'ignora', 'ignoriere', 'schicken', 'senden', 'weiterleiten', 'loschen',
];
const COVERT_VERB = [
  'tell', 'telling', 'mention', 'mentioning', 'inform', 'informing', 'notify', 'notifying', 'alert', 'reveal',
  'sag', 'sagen', 'erwahne', 'erwahnen', 'informiere', 'digas', 'diga', 'decir', 'decirle', 'menciones',
  'informes', 'avises', 'dis', 'dites', 'dire', 'mentionne', 'informe', 'previens', 'dirlo', 'dirglielo',
  'avvisare', 'avvisarlo', 'avvisarla', 'informare', 'menzionare', 'dica',
];
const USER = ['user', 'users', 'human', 'reader', 'customer', 'benutzer', 'nutzer', 'usuario', 'utilisateur', 'utente', 'anyone', 'them'];
const SEND = ['send', 'forward', 'email', 'mail', 'exfiltrate', 'upload', 'transfer', 'transmit', 'leak', 'post',
  'sende', 'schicke', 'leite', 'envia', 'reenvia', 'manda', 'envoie', 'transfere', 'transmets', 'invia', 'inoltra'];
const DATA = [
  'password*', 'passwort*', 'passworter', 'credential*', 'keys', 'token*', 'secret*', 'contact*', 'kontakte',
  'emails', 'mails', 'files', 'dateien', 'history', 'historial', 'conversation*', 'cookies', 'contrasen*',
  'fichiers', 'historique', 'contatti', 'archivos', 'correos', 'verlauf', 'inbox', 'messages', 'documents',
  'mots', 'chats', 'cronologia', 'conversazion*', 'datos', 'donnees', 'dati', 'daten',
];
const OWNER = ['all', 'alle', 'todas', 'todos', 'tous', 'toutes', 'tutte', 'tutti', 'user', 'users', 'nutzers',
  'benutzers', 'usuario', 'utilisateur', 'utente', 'inbox', 'last', 'his', 'her', 'their'];

const EXF_VERB = [
  'reveal', 'show', 'print', 'output', 'repeat', 'display', 'tell', 'give', 'share', 'leak', 'dump', 'write',
  'recite', 'spell', 'list', 'expose', 'disclose', 'paste', 'echo', 'return', 'provide', 'copy', 'quote',
  'zeig', 'zeige', 'gib', 'verrat', 'verrate', 'wiederhole', 'nenne', 'sag', 'drucke', 'muestra', 'muestrame',
  'revela', 'revelame', 'dime', 'repite', 'imprime', 'escribe', 'ensename', 'comparte', 'montre', 'montremoi',
  'revele', 'affiche', 'repete', 'donne', 'ecris', 'partage', 'mostra', 'mostrami', 'rivela', 'rivelami',
  'ripeti', 'stampa', 'dimmi', 'scrivi', 'dammi', 'condividi', 'recopie', 'recopiez', 'copia', 'incolla', 'zitiere',
];
/** Verbs that, with "hidden/system/initial …", ask for the prompt even without "your". */
const EXF_VERB_STRONG = EXF_VERB.filter((v) => !['write', 'give', 'tell', 'share', 'list', 'provide', 'return', 'spell', 'copy', 'quote', 'paste', 'escribe', 'ecris', 'scrivi', 'dime', 'dimmi', 'donne', 'dammi', 'gib', 'sag', 'nenne'].includes(v));
const ASK = ['what', 'was', 'cuales', 'cual', 'quelles', 'quelle', 'quels', 'quel', 'quali', 'qual', 'welche', 'wie'];
const YOUR = ['your', 'yours', 'dein', 'deine', 'deinen', 'deinem', 'deiner', 'ihre', 'ihren', 'tu', 'tus', 'ton',
  'tes', 'ta', 'vos', 'votre', 'tuo', 'tua', 'tuoi', 'tue'];
const PROMPT_OBJ = ['prompt*', 'instruc*', 'directive*', 'system', 'anweisung*', 'instrukt*', 'istruzion*',
  'consigne*', 'systemprompt*', 'systemanweisung*', 'systemnachricht*', 'sysprompt', 'preprompt', 'metaprompt'];
const SECRET_QUAL = [
  'system', 'initial', 'original', 'hidden', 'secret', 'internal', 'developer', 'ursprunglich*', 'versteckt*',
  'geheim*', 'anfanglich*', 'sistema', 'iniciales', 'originales', 'ocultas', 'secretas', 'systeme',
  'initiales', 'cachees', 'secretes', 'iniziali', 'originali', 'nascoste', 'segrete', 'cache', 'cachee', 'secret',
  'nascosto', 'nascosta', 'oculto', 'oculta', 'confidential', 'exact',
];
const PROMPT_NOUN = ['prompt', 'prompts', 'instruc*', 'anweisung*', 'instrukt*', 'istruzion*', 'consigne*', 'message', 'messages', 'wording', 'mensaje', 'messaggio', 'nachricht'];
const SYSTEM_WORD = ['systemprompt*', 'systemanweisung*', 'systemnachricht*', 'sysprompt', 'preprompt', 'metaprompt'];
const REPEAT = ['repeat', 'print', 'output', 'copy', 'echo', 'recite', 'show', 'wiederhole', 'repite', 'repete', 'ripeti', 'zeige', 'muestra', 'affiche', 'mostra'];
const ABOVE = ['above', 'preceding', 'oben', 'obige', 'arriba', 'dessus', 'sopra'];

const MODE_ADJ = ['developer', 'dev', 'god', 'admin', 'debug', 'sudo', 'jailbreak', 'jailbroken', 'unrestricted',
  'unfiltered', 'opposite', 'evil', 'chaos', 'dan', 'desarrollador', 'developpeur', 'sviluppatore', 'dios', 'dieu', 'dio'];
const MODE = ['mode', 'modus', 'modo', 'modalita'];
const MODE_WORD = ['entwicklermodus', 'godmode', 'devmode', 'gottmodus', 'adminmodus', 'debugmodus'];
const MODE_FOLLOWUP = ['ignor*', 'bypass*', 'unlock*', 'anything', 'cualquier', 'qualsiasi', 'disable*', 'opposite', 'override*'];
const UNLOCKED = ['unlocked', 'jailbroken', 'unfiltered', 'uncensored', 'liberated', 'liberada', 'liberado', 'debridee', 'debride',
  'sbloccata', 'sbloccato', 'befreite', 'befreites', 'freed', 'evil', 'dark'];
const SELF = ['self', 'version', 'versione', 'ich', 'persona', 'side', 'alter', 'ego'];
const NO_MORE = [...NO_WORD, 'plus', 'mehr', 'nothing'];
/** Restrictions that only an AI has (a budget or a visa has "restrictions" too, but no content policy). */
const AI_RESTRICTION = ['polic*', 'guideline*', 'filter*', 'censor*', 'censur*', 'zensur*', 'ethic*', 'etic*', 'ethik',
  'moral*', 'safety', 'guardrail*', 'safeguard*', 'richtlinie*', 'inhaltsrichtlinie*', 'politicas', 'politique*', 'politiche',
  'directrices', 'filtri', 'filtres', 'filtros'];
const YOU_HAVE = ['you', 'du', 'tu', 'tienes', 'tuvieras', 'hast', 'hattest', 'hattest', 'avais', 'as', 'hai', 'avessi', 'avere', 'avoir', 'haben', 'tener'];
const INVALID = ['void', 'cancelled', 'canceled', 'revoked', 'obsolete', 'invalid', 'null', 'nullified', 'superseded',
  'irrelevant', 'ungultig', 'nichtig', 'aufgehoben', 'anuladas', 'anulado', 'anuladas', 'invalidas', 'annulees', 'annule',
  'caduques', 'caduc', 'annullate', 'annullato', 'nulle', 'nulli', 'revocadas', 'revoquees', 'revocate'];
const NO_LONGER_APPLY = ['matters', 'matter', 'apply', 'applies', 'valid', 'count', 'counts', 'relevant', 'gelten', 'gilt',
  'valen', 'aplican', 'validas', 'appliquent', 'valent', 'valables', 'valgono', 'valide'];
const INSTR_REF = [...RULES_OBJ, 'setup', 'programming', 'told', 'instructed', 'said', 'gesagt', 'dicho', 'dit', 'detto', 'vorgaben'];
const GRANDMA = ['grandma', 'grandmother', 'granny', 'nana', 'oma', 'grossmutter', 'abuela', 'abuelita', 'nonna', 'mamie'];
const GRANDMA_GOODS = ['serial*', 'lizenz*', 'licencia', 'licenza', 'napalm',
  'malware', 'exploit*', 'password*', 'activation', 'bomb*', 'weapon*', 'meth*', 'synthes*', 'license', 'licence'];
const FRAME = ['novel', 'story', 'fiction', 'fictional', 'hypothetical*', 'research', 'educational', 'academic',
  'paper', 'roman', 'novela', 'romanzo', 'theoretical*', 'theoretically', 'hypothetisch', 'hipotetic*', 'ipotetic*', 'game'];
const MAKE = ['synthes*', 'manufactur*', 'make', 'build', 'cook', 'produce', 'create', 'brew', 'assemble', 'herstell*', 'bau', 'bauen', 'fabricar', 'sintetiz*', 'fabriquer', 'fabbricare', 'sintetizzare'];
const HARM = ['meth', 'methamphetamine', 'bomb', 'bombs', 'explosive*', 'napalm', 'nerve', 'sarin', 'ricin',
  'anthrax', 'bioweapon*', 'weapon', 'weapons', 'malware', 'ransomware', 'poison*', 'cocaine', 'heroin',
  'fentanyl', 'harmful', 'lethal', 'toxin*', 'bombe', 'bomba', 'waffe*', 'arma', 'armi', 'sprengstoff*'];
const FROM_NOW = ['now', 'jetzt', 'nun', 'sofort', 'ahora', 'adelante', 'maintenant', 'desormais', 'dorenavant', 'poi', 'avanti', 'ora', 'adesso'];
const YOU = ['you', 'du', 'tu', 'eres', 'seras', 'es', 'sei', 'sarai', 'bist'];
const WHEN = ['when', 'while', 'whenever', 'whoever', 'anyone', 'as', 'if', 'wenn', 'falls', 'beim', 'cuando', 'al', 'si', 'quand', 'lorsque', 'quando', 'mentre', 'se'];
const PROCESSING = ['summariz*', 'summaris*', 'processing', 'process', 'reading', 'read', 'parsing', 'analyz*',
  'analys*', 'translating', 'zusammenfass*', 'verarbeit*', 'liest', 'resum*', 'procesas', 'procesando', 'lees',
  'traites', 'lis', 'riassum*', 'elabori', 'leggi'];
const SAY = ['say', 'include', 'add', 'tell', 'mention', 'write', 'state', 'claim', 'append', 'report', 'rate', 'recommend',
  'sag', 'schreib', 'erwahne', 'di', 'dis', 'dites', 'escribe', 'menciona', 'incluye', 'includi', 'aggiungi',
  'scrivi', 'ajoute', 'agrega', 'fuge'];

/** The injection phrase rules; weights are combined per input as 1 - prod(1 - w). */
export const INJECTION_RULES: readonly PhraseRule<InjectionCategory>[] = [
  // instruction override
  { id: 'override.verb_prior_object', category: 'instruction_override', weight: 0.9, slots: [OVERRIDE_VERB, PRIOR, RULES_OBJ], gaps: [2, 3] },
  { id: 'override.verb_object_prior', category: 'instruction_override', weight: 0.9, slots: [OVERRIDE_VERB, RULES_OBJ, PRIOR], gaps: [3, 4] },
  { id: 'override.verb_everything_before', category: 'instruction_override', weight: 0.8, slots: [OVERRIDE_VERB, EVERYTHING, BEFORE], gaps: [1, 5] },
  { id: 'override.verb_context', category: 'instruction_override', weight: 0.6, slots: [OVERRIDE_VERB, CONTEXT_OBJ], gaps: [1] },
  { id: 'override.verb_previous', category: 'instruction_override', weight: 0.4, slots: [OVERRIDE_VERB, ['previous', 'prior', 'above', 'earlier']], gaps: [0] },
  { id: 'override.stop_following', category: 'instruction_override', weight: 0.85, slots: [NEGATE, FOLLOW, RULES_OBJ], gaps: [2, 4] },
  { id: 'override.follow_no_more', category: 'instruction_override', weight: 0.85, slots: [FOLLOW, NEGATE, RULES_OBJ], gaps: [1, 4] },
  { id: 'override.fr_ne_tiens_pas_compte', category: 'instruction_override', weight: 0.85, slots: [['tiens', 'tenez'], ['compte'], RULES_OBJ], gaps: [1, 4] },
  { id: 'override.es_hacer_caso', category: 'instruction_override', weight: 0.85, slots: [['hagas', 'haga', 'hagan', 'hacer', 'haz'], ['caso'], RULES_OBJ], gaps: [0, 5] },
  { id: 'override.new_task_colon', category: 'instruction_override', weight: 0.6, slots: [NEW, TASK_COLON], gaps: [0] },
  { id: 'override.your_new_task', category: 'instruction_override', weight: 0.6, slots: [YOUR, NEW, PERSONA_NOUN], gaps: [0, 0] },
  { id: 'override.were_a_test', category: 'instruction_override', weight: 0.7, slots: [RULES_OBJ, ['were', 'was', 'are', 'is'], ['test', 'joke', 'fake', 'lie', 'decoy', 'trick']], gaps: [0, 1] },
  { id: 'override.start_over', category: 'instruction_override', weight: 0.7, slots: [['start', 'begin', 'starting'], ['fresh', 'over', 'anew', 'again', 'scratch'], RULES_OBJ], gaps: [0, 6] },
  { id: 'override.your_rules_invalid', category: 'instruction_override', weight: 0.75, slots: [[...YOUR, 'you'], INSTR_REF, INVALID], gaps: [6, 8] },
  { id: 'override.everything_before_invalid', category: 'instruction_override', weight: 0.75, slots: [EVERYTHING, BEFORE, INVALID], gaps: [4, 6] },
  { id: 'override.your_rules_no_longer', category: 'instruction_override', weight: 0.75, slots: [[...YOUR, 'you'], INSTR_REF, ['no', 'nicht', 'ya', 'plus', 'piu', 'non'], [...NO_LONGER_APPLY, 'longer', 'mehr', 'no', 'plus', 'piu']], gaps: [6, 8, 2] },
  { id: 'override.set_aside', category: 'instruction_override', weight: 0.85, slots: [['aside', 'beiseite', 'lado', 'abstraction', 'perdere', 'stare'], [...RULES_OBJ, 'guidance', 'programming']], gaps: [4] },
  { id: 'override.no_longer_have', category: 'instruction_override', weight: 0.7, slots: [['no'], ['longer'], ['have', 'bound', 'follow', 'need', 'subject', 'obliged', 'required', 'restricted'], [...RULES_OBJ, ...RESTRICTION]], gaps: [0, 2, 4] },
  // role hijack
  { id: 'role.cue_unrestricted', category: 'role_hijack', weight: 0.85, slots: [ROLE_CUE, UNRESTRICTED], gaps: [6] },
  { id: 'role.cue_no_rules', category: 'role_hijack', weight: 0.85, slots: [ROLE_CUE, NO_WORD, RESTRICTION], gaps: [7, 3] },
  { id: 'role.you_are_now', category: 'role_hijack', weight: 0.85, slots: [['you'], ['are', 're'], ['now'], [...UNRESTRICTED, ...NO_WORD, 'dan', 'free', 'called', 'named']], gaps: [0, 0, 6] },
  { id: 'role.you_are_no_longer', category: 'role_hijack', weight: 0.8, slots: [['you'], ['are', 're'], ['no'], ['longer'], [...AI, 'bound', 'restricted', 'limited', 'censored', 'filtered', 'required', 'obliged', 'subject']], gaps: [0, 0, 0, 2] },
  { id: 'role.not_an_assistant_anymore', category: 'role_hijack', weight: 0.8, slots: [['you', 'du', 'tu'], ['are', 're', 'bist', 'es', 'eres', 'sei'], ['not', 'no', 'kein', 'keine', 'pas', 'plus', 'piu', 'non'], AI, ['anymore', 'longer', 'mehr', 'plus', 'piu', 'ya']], gaps: [0, 0, 2, 2] },
  { id: 'role.never_refuse', category: 'role_hijack', weight: 0.6, slots: [['you', 'that', 'who', 'which'], ['never', 'cannot', 'can', 'won', 'will'], ['refuse*', 'decline*', 'deny']], gaps: [3, 1] },
  { id: 'role.always_comply', category: 'role_hijack', weight: 0.5, slots: [['always'], ['comply', 'obey', 'agree']], gaps: [0] },
  { id: 'role.from_now_on_you', category: 'role_hijack', weight: 0.4, slots: [FROM_NOW, YOU, ['act', 'are', 'will', 'must', 'respond', 'answer', 'behave', 'be', 'reply', 'bist', 'eres', 'seras', 'es', 'sei', 'sarai']], gaps: [3, 1] },
  { id: 'role.ai_without_rules', category: 'role_hijack', weight: 0.7, slots: [AI, NO_WORD, RESTRICTION], gaps: [4, 3] },
  // fake delimiters expressed in words (markup forms are scanned separately)
  { id: 'delimiter.end_of_system', category: 'fake_delimiter', weight: 0.6, slots: [['end', 'ende', 'fin', 'fine', 'begin', 'start', 'inicio', 'debut', 'inizio'], ['system', 'user', 'developer', 'admin', 'sistema', 'systeme'], ['prompt', 'input', 'message', 'instructions', 'messages', 'nachricht', 'mensaje', 'messaggio', 'session', 'mode']], gaps: [2, 1] },
  { id: 'delimiter.input_marker', category: 'fake_delimiter', weight: 0.6, slots: [['user', 'system', 'human', 'assistant', 'untrusted'], ['input', 'prompt', 'message', 'content', 'data'], ['end', 'start', 'begin', 'ends', 'starts']], gaps: [0, 0] },
  // prompt exfiltration
  { id: 'exfil.verb_your_prompt', category: 'prompt_exfiltration', weight: 0.85, slots: [[...EXF_VERB, ...ASK], YOUR, PROMPT_OBJ], gaps: [4, 2] },
  { id: 'exfil.verb_secret_prompt', category: 'prompt_exfiltration', weight: 0.85, slots: [EXF_VERB_STRONG, SECRET_QUAL, PROMPT_NOUN], gaps: [4, 2] },
  { id: 'exfil.verb_prompt_secret', category: 'prompt_exfiltration', weight: 0.85, slots: [EXF_VERB_STRONG, PROMPT_NOUN, SECRET_QUAL], gaps: [4, 2] },
  { id: 'exfil.verb_systemprompt', category: 'prompt_exfiltration', weight: 0.85, slots: [EXF_VERB_STRONG, SYSTEM_WORD], gaps: [4] },
  { id: 'exfil.makers_told_you', category: 'prompt_exfiltration', weight: 0.6, slots: [['built', 'made', 'created', 'trained', 'programmed', 'designed', 'developed', 'configured'], ['you'], ['tell', 'told', 'say', 'said', 'instruct*', 'want', 'wanted']], gaps: [0, 4] },
  { id: 'exfil.you_were_told', category: 'prompt_exfiltration', weight: 0.35, slots: [['you', 'dir', 'te', 'ti', 'toi'], ['told', 'gesagt', 'dicho', 'dit', 'detto', 'given', 'configuraron', 'configured', 'initialized']], gaps: [3] },
  { id: 'exfil.start_of_conversation', category: 'prompt_exfiltration', weight: 0.35, slots: [['anfang', 'beginning', 'start', 'inicio', 'comienzo', 'debut', 'inizio', 'first'], ['conversation*', 'gesprach*', 'chat', 'conversacion*', 'discussion', 'conversazion*', 'session']], gaps: [6] },
  { id: 'exfil.first_words', category: 'prompt_exfiltration', weight: 0.55, slots: [['first', 'initial'], ['words', 'lines', 'sentences', 'characters', 'tokens', 'paragraph'], ['conversation*', 'chat', 'prompt', 'context']], gaps: [3, 3] },
  { id: 'exfil.rules_you_operate', category: 'prompt_exfiltration', weight: 0.45, slots: [['rules', 'instructions', 'guidelines', 'constraints'], ['you'], ['operate', 'follow', 'run', 'work', 'were']], gaps: [1, 0] },
  { id: 'exfil.you_were_given', category: 'prompt_exfiltration', weight: 0.6, slots: [['instruc*', 'prompt', 'rules', 'guidelines'], ['you'], ['were', 'was', 'have', 've'], ['given', 'told', 'provided', 'instructed']], gaps: [2, 0, 1] },
  { id: 'exfil.were_you_told', category: 'prompt_exfiltration', weight: 0.7, slots: [['were', 'was', 'have'], ['you'], ['told', 'given', 'instructed', 'programmed'], [...PROMPT_OBJ, 'message', 'initially', 'beginning', 'start']], gaps: [0, 0, 5] },
  { id: 'exfil.repeat_above', category: 'prompt_exfiltration', weight: 0.7, slots: [REPEAT, ABOVE], gaps: [4] },
  // jailbreak keywords
  { id: 'jailbreak.do_anything_now', category: 'jailbreak', weight: 0.9, slots: [['do'], ['anything'], ['now']], gaps: [0, 0] },
  { id: 'jailbreak.dan_capitals', category: 'jailbreak', weight: 0.6, slots: [['dan^'], [...MODE, 'jailbreak', 'chatgpt', 'ai', 'anything', 'pretend', 'stands', 'enable*', 'activ*', 'aktivier*', 'attiv*', 'restriction*', 'unrestricted', ...NO_WORD]], gaps: [8] },
  { id: 'jailbreak.dan_mode', category: 'jailbreak', weight: 0.8, slots: [['dan'], MODE], gaps: [1] },
  { id: 'jailbreak.mode_dan', category: 'jailbreak', weight: 0.8, slots: [MODE, ['dan']], gaps: [1] },
  { id: 'jailbreak.mode_then_bypass', category: 'jailbreak', weight: 0.85, slots: [MODE_ADJ, MODE, MODE_FOLLOWUP], gaps: [0, 10] },
  { id: 'jailbreak.mode_adj_after_bypass', category: 'jailbreak', weight: 0.85, slots: [MODE, MODE_ADJ, MODE_FOLLOWUP], gaps: [0, 10] },
  { id: 'jailbreak.mode_word_bypass', category: 'jailbreak', weight: 0.85, slots: [MODE_WORD, MODE_FOLLOWUP], gaps: [10] },
  { id: 'jailbreak.mode_then_no_rules', category: 'jailbreak', weight: 0.85, slots: [MODE_ADJ, MODE, NO_MORE, RESTRICTION], gaps: [0, 10, 2] },
  { id: 'jailbreak.mode_adj_after_no_rules', category: 'jailbreak', weight: 0.85, slots: [MODE, MODE_ADJ, NO_MORE, RESTRICTION], gaps: [0, 10, 2] },
  { id: 'jailbreak.mode_word_no_rules', category: 'jailbreak', weight: 0.85, slots: [MODE_WORD, NO_MORE, RESTRICTION], gaps: [10, 2] },
  { id: 'jailbreak.you_have_no_policy', category: 'jailbreak', weight: 0.6, slots: [YOU_HAVE, NO_WORD, AI_RESTRICTION], gaps: [3, 3] },
  { id: 'jailbreak.no_you_have_policy', category: 'jailbreak', weight: 0.6, slots: [NO_WORD, YOU_HAVE, AI_RESTRICTION], gaps: [1, 2] },
  { id: 'jailbreak.unlocked_self', category: 'jailbreak', weight: 0.7, slots: [UNLOCKED, SELF], gaps: [0] },
  { id: 'jailbreak.self_unlocked', category: 'jailbreak', weight: 0.7, slots: [SELF, UNLOCKED], gaps: [0] },
  { id: 'jailbreak.keyword_you', category: 'jailbreak', weight: 0.8, slots: [['jailbreak', 'jailbroken', 'jailbreaking'], ['you', 'yourself', 'activated', 'enabled', 'mode', 'free', 'successful', 'unlocked']], gaps: [8] },
  { id: 'jailbreak.free_from_rules', category: 'jailbreak', weight: 0.6, slots: [['free', 'freed', 'liberated', 'befreit', 'libre', 'libera', 'libero', 'unbound'], RESTRICTION], gaps: [3] },
  { id: 'jailbreak.grandma', category: 'jailbreak', weight: 0.8, slots: [GRANDMA, GRANDMA_GOODS], gaps: [12] },
  { id: 'jailbreak.grand_mere', category: 'jailbreak', weight: 0.8, slots: [['grand'], ['mere'], GRANDMA_GOODS], gaps: [0, 12] },
  { id: 'jailbreak.frame_then_harm', category: 'jailbreak', weight: 0.8, slots: [FRAME, MAKE, HARM], gaps: [12, 4] },
  { id: 'jailbreak.harm_then_frame', category: 'jailbreak', weight: 0.8, slots: [MAKE, HARM, FRAME], gaps: [4, 12] },
  { id: 'jailbreak.if_no_restrictions', category: 'jailbreak', weight: 0.6, slots: [['if', 'wenn', 'si', 'se'], ['you', 'du', 'tu', 'tuvieras', 'avais'], NO_WORD, RESTRICTION], gaps: [0, 3, 2] },
  { id: 'jailbreak.stan', category: 'jailbreak', weight: 0.9, slots: [['strive*'], ['to'], ['avoid'], ['norms']], gaps: [0, 0, 0] },
  { id: 'jailbreak.aim', category: 'jailbreak', weight: 0.9, slots: [['intelligent'], ['and'], ['machiavellian']], gaps: [0, 0] },
  { id: 'jailbreak.stay_in_character', category: 'jailbreak', weight: 0.4, slots: [['stay', 'remain', 'keep'], ['in'], ['character']], gaps: [0, 0] },
  // instructions addressed to an AI inside data
  { id: 'indirect.addressed_to_ai', category: 'indirect_instruction', weight: 0.35, slots: [ADDRESS, AI], gaps: [3] },
  { id: 'indirect.ai_colon', category: 'indirect_instruction', weight: 0.35, slots: [AI.map((w) => `${w}:`)], gaps: [] },
  { id: 'indirect.if_you_are_ai', category: 'indirect_instruction', weight: 0.5, slots: [['if', 'wenn', 'falls', 'si', 'se'], YOU, AI], gaps: [3, 3] },
  { id: 'indirect.ai_then_action', category: 'indirect_instruction', weight: 0.8, slots: [AI, ACTION], gaps: [15] },
  { id: 'indirect.ai_tell_user', category: 'indirect_instruction', weight: 0.8, slots: [AI, ['tell', 'say', 'inform', 'show', 'warn', 'sag', 'dile', 'dis', 'di'], USER], gaps: [15, 2] },
  { id: 'indirect.covert_from_user', category: 'indirect_instruction', weight: 0.6, slots: [['not', 'don', 'dont', 'never', 'without', 'ohne', 'nicht', 'sin', 'no', 'sans', 'ne', 'pas', 'rien', 'senza', 'non'], COVERT_VERB, USER], gaps: [3, 4] },
  { id: 'indirect.send_owned_data', category: 'indirect_instruction', weight: 0.6, slots: [SEND, OWNER, DATA], gaps: [4, 4] },
  { id: 'indirect.call_tool', category: 'indirect_instruction', weight: 0.5, slots: [['call', 'invoke', 'execute', 'run', 'trigger', 'use', 'ruf', 'llama', 'appelle', 'chiama'], ['#call', 'tool', 'function', 'funktion', 'herramienta', 'outil', 'strumento']], gaps: [3] },
  { id: 'indirect.addressed_tool_call', category: 'indirect_instruction', weight: 0.7, slots: [[...AI, 'todo'], ['#call']], gaps: [6] },
  { id: 'indirect.when_processing_say', category: 'indirect_instruction', weight: 0.6, slots: [WHEN, PROCESSING, SAY], gaps: [3, 6] },
  { id: 'indirect.if_you_are_processing', category: 'indirect_instruction', weight: 0.45, slots: [WHEN, ['you', 're', 'du', 'tu'], PROCESSING], gaps: [2, 2] },
  { id: 'indirect.ai_covert', category: 'indirect_instruction', weight: 0.7, slots: [AI, ['quietly', 'silently', 'secretly', 'covertly', 'heimlich', 'unbemerkt', 'discretamente', 'secretamente', 'silenciosamente', 'discretement', 'secretement', 'silencieusement', 'silenziosamente', 'segretamente']], gaps: [15] },
  { id: 'indirect.regardless', category: 'indirect_instruction', weight: 0.3, slots: [['regardless', 'unabhangig', 'independientemente', 'indipendentemente'], ['of', 'von', 'de', 'da', 'dalle']], gaps: [0] },
];
