/**
 * Loaded by mocha before the tests (.mocharc.json "require"). fast-check sizes what it generates
 * by `baseSize`, not by the `maxLength` a property names: at its default ('small') an array of
 * "up to 300 steps" came out at about ten, so properties meant for long histories never saw one.
 * 'medium' lets them reach about a hundred; a property that needs its full maxLength says
 * `size: 'max'` itself.
 */
import fc from 'fast-check';

fc.configureGlobal({ baseSize: 'medium' });
